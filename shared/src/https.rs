//! The one place Chasqui's HTTPS clients are built, and what they trust.
//!
//! **Trusted:** the roots of Mozilla's CA programme that carry the
//! websites trust bit (the set Firefox uses to accept a server), compiled
//! into the binary by `webpki-root-certs`. Nothing is read from the
//! filesystem.
//!
//! **Why not the system store:** the AWS SDK's default connector loads it
//! with `rustls-native-certs` when it builds its first connection: it reads
//! and parses every file of the certificate directory it probes (292 files
//! on a Debian host, each root about three times), which was most of the
//! webhook's cold start (`docs/benchmarks.md`, "Cold start and memory").
//! The compiled-in list costs no I/O and is the same on every machine. It
//! works on Lambda's `provided.al2023`: that image's store
//! (`/etc/pki/tls/certs/ca-bundle.crt`, from Amazon Linux's
//! `ca-certificates`) is built from the same Mozilla list, and the servers
//! Chasqui calls chain to roots in it: AWS endpoints to Amazon Trust
//! Services (Amazon Root CA 1 to 4, Starfield Services Root Certificate
//! Authority G2), and `graph.facebook.com`, a site browsers open, to a root
//! Firefox trusts (DigiCert's).
//!
//! **Not trusted:** anything added to a machine's own store, such as a
//! private CA or a TLS-inspecting proxy. Chasqui's functions talk only to
//! AWS and Meta; a deployment behind such a proxy would have to add its CA
//! here. (The `chasqui` CLI, which runs on developers' machines, keeps the
//! SDK's default and the system store for its own AWS calls.)
//!
//! **Updated by:** a bump of `webpki-root-certs` (`cargo update -p
//! webpki-root-certs`), which is regenerated from Mozilla's list: new roots
//! arrive and distrusted ones leave with it, so keep it as current as any
//! security dependency.
//!
//! Plain `http://` endpoints (moto through `AWS_ENDPOINT_URL`, the Cloud API
//! sandbox) work as before: TLS is used only for `https://` URLs.

use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use base64::Engine;
use webpki_root_certs::TLS_SERVER_ROOT_CERTS;

/// The trusted roots as one PEM bundle, the form the AWS SDK's trust store
/// takes. Built once per process (about 200 KB).
fn roots_pem() -> Arc<[u8]> {
    static PEM: OnceLock<Arc<[u8]>> = OnceLock::new();
    PEM.get_or_init(|| {
        let base64 = base64::engine::general_purpose::STANDARD;
        let mut pem = Vec::with_capacity(TLS_SERVER_ROOT_CERTS.len() * 2048);
        for cert in TLS_SERVER_ROOT_CERTS {
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            let encoded = base64.encode(cert.as_ref());
            for line in encoded.as_bytes().chunks(64) {
                pem.extend_from_slice(line);
                pem.push(b'\n');
            }
            pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        pem.into()
    })
    .clone()
}

/// The HTTP client of every AWS SDK client: the SDK's own default (hyper 1,
/// rustls with aws-lc, proxy settings from the environment, the timeouts
/// each SDK client asks for) with the trust store above instead of the
/// system's.
///
/// This mirrors `aws_smithy_runtime`'s `default_https_client`, through the
/// same `Builder::build_with_connector_fn` it uses, so only the trust store
/// differs, and wraps it in [`LazyConnectors`]. The SDK builds one
/// connector (and parses the roots once) per distinct timeout setting, at
/// the first request that needs it.
pub fn aws_http_client() -> SharedHttpClient {
    LazyConnectors(sdk_default_with_our_roots()).into_shared()
}

/// The SDK's client minus one eager step: its `validate_base_client_config`
/// builds a whole connector, TLS configuration and trust store included,
/// and throws it away, "so that native certs load at client initialization
/// time" (aws-smithy-http-client 1.5). It runs for every SDK client made
/// from the configuration, the credentials chain's STS client included: four
/// throwaway parses of every root in the webhook's cold start. There is no
/// file to load early here, so this wrapper skips it and only ever builds
/// the connectors requests use.
#[derive(Debug)]
struct LazyConnectors(SharedHttpClient);

impl HttpClient for LazyConnectors {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[allow(
    clippy::expect_used,
    reason = "built from compiled-in roots, not outside input"
)]
fn sdk_default_with_our_roots() -> SharedHttpClient {
    let tls = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(roots_pem().to_vec()))
        .build()
        .expect("a TLS context without additional server names always builds");
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// A `reqwest` client builder that trusts exactly the roots above (no
/// platform verifier, no system store). Callers add their timeouts.
pub fn reqwest_builder() -> Result<reqwest::ClientBuilder, reqwest::Error> {
    let roots = TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|cert| reqwest::Certificate::from_der(cert.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(reqwest::Client::builder().tls_certs_only(roots))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn the_pem_bundle_holds_exactly_the_compiled_in_roots() {
        let parsed = CertificateDer::pem_slice_iter(&roots_pem())
            .collect::<Result<Vec<_>, _>>()
            .expect("the bundle is valid PEM");
        assert_eq!(parsed.len(), TLS_SERVER_ROOT_CERTS.len());
        assert!(parsed.len() > 100, "Mozilla's list has well over 100 roots");
        for (pem, der) in parsed.iter().zip(TLS_SERVER_ROOT_CERTS) {
            assert_eq!(pem.as_ref(), der.as_ref());
        }
    }

    #[test]
    fn the_roots_aws_and_meta_chain_to_are_trusted() {
        // Subject common names, as they appear (UTF8String or
        // PrintableString) in each root's DER.
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
            "DigiCert Global Root G2",
        ] {
            let found = TLS_SERVER_ROOT_CERTS.iter().any(|cert| {
                cert.as_ref()
                    .windows(name.len())
                    .any(|w| w == name.as_bytes())
            });
            assert!(found, "{name} is missing from the trust store");
        }
    }
}
