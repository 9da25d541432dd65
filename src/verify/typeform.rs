//! `typeform`: not implemented yet (issue #17); every request is refused.

use super::sign::{self, Draft, Signed};
use super::{Claims, Ctx, Error};
use crate::config::Route;

/// Verifies a request of this kind.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let _ = ctx;
    Err(Error::BadSignature)
}

/// Signs a request as the provider would.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    let _ = (route, draft);
    Err(sign::Error::Unsupported("typeform"))
}
