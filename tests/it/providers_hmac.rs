//! Issue #17 kinds: see the module's helper (filled as the kinds land).
