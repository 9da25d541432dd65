//! Tests for matching verified client certificates against route rules.

use super::*;
use crate::config::ClientCerts;

const SALESFORCE: [(rcgen::DnType, &str); 5] = [
    (rcgen::DnType::CountryName, "US"),
    (rcgen::DnType::StateOrProvinceName, "California"),
    (rcgen::DnType::LocalityName, "San Francisco"),
    (rcgen::DnType::OrganizationName, "salesforce.com, inc."),
    (rcgen::DnType::CommonName, "proxy.salesforce.com"),
];

/// A self-signed certificate whose subject holds `attrs` in this order.
fn cert(attrs: &[(rcgen::DnType, &str)]) -> ClientCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in attrs {
        params.distinguished_name.push(t.clone(), *v);
    }
    ClientCert::from_der(params.self_signed(&key).unwrap().der())
}

fn rule(subjects: &[&str]) -> ClientCerts {
    ClientCerts {
        subjects: subjects.iter().map(|s| Dn::parse(s).unwrap()).collect(),
        fingerprints: Vec::new(),
    }
}

#[test]
fn full_subject_rules_match_in_either_order() {
    let c = cert(&SALESFORCE);
    for s in [
        r"CN=proxy.salesforce.com,O=salesforce.com\, inc.,L=San Francisco,ST=California,C=US",
        r"C=US, ST=California, L=San Francisco, O=salesforce.com\, inc., CN=proxy.salesforce.com",
    ] {
        assert!(c.matches(&rule(&[s])), "{s}");
    }
}

#[test]
fn a_subject_differing_in_one_attribute_does_not_match() {
    let mut other = SALESFORCE;
    other[2].1 = "Oakland";
    let c = cert(&other);
    let s = r"CN=proxy.salesforce.com,O=salesforce.com\, inc.,L=San Francisco,ST=California,C=US";
    assert!(!c.matches(&rule(&[s])));
    // The CN alone still matches.
    assert!(c.matches(&rule(&["CN=proxy.salesforce.com"])));
}
