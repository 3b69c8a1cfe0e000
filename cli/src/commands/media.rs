//! `chasqui media get <wamid|id> [--out FILE]`: an inbound file from the
//! media bucket (`docs/media.md`), checked against the SHA-256 it was
//! stored with.

use std::path::{Path, PathBuf};

use serde_json::json;
use shared::media::s3::{MediaBucket, SHA256_METADATA};

use super::{CliError, Output};
use crate::target::Target;

/// The file extension of a MIME type, for the default output name.
fn extension(content_type: &str) -> &'static str {
    match content_type.split(';').next().unwrap_or_default().trim() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "audio/mp4" => "m4a",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        _ => "bin",
    }
}

pub async fn get(
    target: &Target,
    out: Output,
    id: &str,
    file: Option<&Path>,
) -> Result<(), CliError> {
    let bucket = target.resources.media_bucket.as_deref().ok_or_else(|| {
        CliError::new(format!("no MEDIA_BUCKET (looked in {})", target.source)).hint(
            "start the local stack with `make dev`, or set MEDIA_BUCKET (the stack's MediaBucketName output)",
        )
    })?;
    let key = shared::media::object_key(&target.tenant, id);
    let found = MediaBucket::new(&target.aws)
        .get(bucket, &key, None)
        .await
        .map_err(|e| CliError::new(format!("reading s3://{bucket}/{key}: {e}")))?;
    let Some((head, bytes)) = found else {
        return Err(CliError::new(format!("no file for {id} in s3://{bucket}/{key}"))
            .hint("the message may have no file, its download may still be pending or have failed: `chasqui contacts show` prints its media state and reason")
            .code(1));
    };
    let content_type = head.content_type.clone().unwrap_or_default();
    let sha256 = shared::media::sha256_hex(&bytes);
    let expected = head.metadata.get(SHA256_METADATA).cloned();
    if expected.as_deref().is_some_and(|e| e != sha256) {
        return Err(CliError::new(format!(
            "s3://{bucket}/{key} hashes to {sha256}, not the {} it was stored with",
            expected.unwrap_or_default()
        )));
    }
    let path: PathBuf = file.map(Path::to_path_buf).unwrap_or_else(|| {
        let name = key.rsplit('/').next().unwrap_or("media");
        PathBuf::from(format!("{name}.{}", extension(&content_type)))
    });
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|e| CliError::new(format!("writing {}: {e}", path.display())))?;
    out.result(
        &format!(
            "{} ({} bytes, {content_type}, sha256 {sha256}) from s3://{bucket}/{key}",
            path.display(),
            bytes.len()
        ),
        &json!({"id": id, "bucket": bucket, "key": key, "size": bytes.len(),
            "content_type": content_type, "sha256": sha256, "out": path.display().to_string()}),
    );
    Ok(())
}
