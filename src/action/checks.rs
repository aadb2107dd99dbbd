//! Values checked as AWS would check them, when the fault file is read: a value AWS
//! rejects is refused before anything is sent, with the key it is under first in the
//! message (`` `cidr` …``), which is how the loader locates it (`path:line:col`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A CIDR block: an address, a prefix length within its family, and no host bits set
/// (AWS refuses `10.0.0.1/8`; the message names the network meant).
pub fn cidr(field: &str, value: &str) -> Result<(), String> {
    let bad =
        || format!("`{field}` is `{value}`, not a CIDR block: use a network such as 10.0.0.0/8, 0.0.0.0/0 or ::/0");
    let (addr, len) = value.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u32 = len.parse().map_err(|_| bad())?;
    let network = match addr {
        IpAddr::V4(a) if len <= 32 => {
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::MAX.checked_shl(32 - len).unwrap_or(0)))
        }
        IpAddr::V6(a) if len <= 128 => {
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & u128::MAX.checked_shl(128 - len).unwrap_or(0)))
        }
        _ => return Err(bad()),
    };
    if network != addr {
        return Err(format!("`{field}` `{value}` has host bits set (AWS refuses it): the network is {network}/{len}"));
    }
    Ok(())
}

/// A security group rule's description: AWS takes up to 255 characters, of letters,
/// digits, spaces and `._-:/()#,@[]+=&;{}!$*`.
pub fn rule_description(field: &str, value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n > 255 {
        return Err(format!("`{field}` is {n} characters long: AWS takes up to 255"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c);
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "`{field}` holds {c:?}, which AWS does not take in a rule description \
             (letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$* only)"
        ));
    }
    Ok(())
}

/// A DNS record's TTL: Route 53 takes 0 to 2147483647 seconds.
pub fn ttl(field: &str, value: i64) -> Result<(), String> {
    if !(0..=2_147_483_647).contains(&value) {
        return Err(format!("`{field}` is {value}: Route 53 takes a TTL from 0 to 2147483647 seconds"));
    }
    Ok(())
}

/// A record's value for its type: an IPv4 address for `A`, IPv6 for `AAAA`, a domain
/// name for `CNAME`; with no type given, an address or a domain name. Other types'
/// values (TXT, MX, …) are AWS's to judge.
pub fn record_value(field: &str, record_type: Option<&str>, value: &str) -> Result<(), String> {
    let v = value.trim();
    match record_type.map(str::to_ascii_uppercase).as_deref() {
        Some("A") => v.parse::<Ipv4Addr>().map(drop).map_err(|_| {
            format!("`{field}` `{value}` is not an IPv4 address, which an A record holds (e.g. 10.0.0.99)")
        }),
        Some("AAAA") => v.parse::<Ipv6Addr>().map(drop).map_err(|_| {
            format!("`{field}` `{value}` is not an IPv6 address, which an AAAA record holds (e.g. 2001:db8::99)")
        }),
        Some("CNAME") => {
            domain_name(v).map_err(|why| format!("`{field}` `{value}` is not a domain name for a CNAME: {why}"))
        }
        Some(_) => Ok(()),
        None if v.parse::<IpAddr>().is_ok() => Ok(()),
        // Digits and dots only: meant as an IPv4 address, and not one (`999.1.1.1`).
        None if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            Err(format!("`{field}` `{value}` is not an IPv4 address"))
        }
        None => domain_name(v)
            .map_err(|why| format!("`{field}` `{value}` is neither an IP address nor a domain name: {why}")),
    }
}

/// A domain name as Route 53 takes one: at most 255 characters, labels of 1 to 63
/// letters, digits, hyphens or underscores (`*` alone as the first label).
fn domain_name(v: &str) -> Result<(), String> {
    let name = v.strip_suffix('.').unwrap_or(v);
    if name.is_empty() || name.len() > 255 {
        return Err("a name has 1 to 255 characters".into());
    }
    for (i, label) in name.split('.').enumerate() {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("label `{label}` must have 1 to 63 characters"));
        }
        let ok = (i == 0 && label == "*") || label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!("label `{label}` may hold only letters, digits, `-` and `_`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_with_host_bits_name_the_network() {
        assert!(cidr("cidr", "10.0.0.0/8").is_ok());
        assert!(cidr("cidr", "0.0.0.0/0").is_ok());
        assert!(cidr("cidr", "2001:db8::/32").is_ok());
        assert!(cidr("cidr", "10.1.2.3/32").is_ok());
        let e = cidr("cidr", "10.0.0.1/8").unwrap_err();
        assert!(e.starts_with("`cidr`") && e.contains("the network is 10.0.0.0/8"), "{e}");
        let e = cidr("cidr", "2001:db8::1/32").unwrap_err();
        assert!(e.contains("2001:db8::/32"), "{e}");
        for bad in ["10.0.0.0", "10.0.0.0/33", "300.0.0.0/8", "::/129", "x/1"] {
            assert!(cidr("cidr", bad).unwrap_err().contains("not a CIDR block"), "{bad}");
        }
    }

    #[test]
    fn rule_descriptions_as_aws_takes_them() {
        assert!(rule_description("description", "firedrill: open ssh (drill #3) [run=x]").is_ok());
        assert!(rule_description("description", &"x".repeat(255)).is_ok());
        assert!(rule_description("description", &"x".repeat(256)).unwrap_err().contains("256 characters"));
        assert!(rule_description("description", "café").unwrap_err().contains("'é'"));
        assert!(rule_description("description", "a\"b").is_err());
    }

    #[test]
    fn record_values_by_type() {
        assert!(record_value("value", Some("A"), "10.0.0.99").is_ok());
        assert!(record_value("value", Some("A"), "999.1.1.1").unwrap_err().contains("not an IPv4 address"));
        assert!(record_value("value", Some("A"), "example.com").is_err());
        assert!(record_value("value", Some("AAAA"), "2001:db8::1").is_ok());
        assert!(record_value("value", Some("aaaa"), "10.0.0.1").is_err());
        assert!(record_value("value", Some("CNAME"), "wrong.example.com.").is_ok());
        assert!(record_value("value", Some("CNAME"), "bad name.example.com").is_err());
        assert!(record_value("value", None, "999.1.1.1").is_err());
        assert!(record_value("value", None, "10.0.0.1").is_ok());
        assert!(record_value("value", None, "elsewhere.example.com").is_ok());
        assert!(record_value("value", Some("TXT"), "\"anything at all\"").is_ok());
        assert!(ttl("ttl", -5).is_err() && ttl("ttl", 0).is_ok() && ttl("ttl", 2_147_483_648).is_err());
    }
}
