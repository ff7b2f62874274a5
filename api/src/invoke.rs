//! Service invocation's errors in Dapr's terms.

use jetway_blocks::invoke::InvokeError;

use super::{Error, ErrorCode};

impl From<InvokeError> for Error {
    fn from(e: InvokeError) -> Error {
        let code = match &e {
            InvokeError::NoTarget { .. } => ErrorCode::DirectInvokeNoTarget,
            InvokeError::Invalid { .. } => ErrorCode::MalformedRequest,
            InvokeError::TooLarge { .. } => ErrorCode::DirectInvokeTooLarge,
            InvokeError::Timeout { .. } | InvokeError::Failed { .. } => ErrorCode::DirectInvoke,
        };
        Error::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_kind_has_daprd_code() {
        let target = || "orders".to_owned();
        let cases = [
            (
                InvokeError::NoTarget { target: target() },
                "ERR_DIRECT_INVOKE",
                500,
            ),
            (
                InvokeError::Invalid {
                    target: target(),
                    message: "too long".into(),
                },
                "ERR_MALFORMED_REQUEST",
                400,
            ),
            (
                InvokeError::TooLarge {
                    target: target(),
                    message: "1 MB".into(),
                },
                "ERR_DIRECT_INVOKE",
                413,
            ),
            (
                InvokeError::Timeout {
                    target: target(),
                    after: Duration::from_secs(1),
                },
                "ERR_DIRECT_INVOKE",
                500,
            ),
            (
                InvokeError::Failed {
                    target: target(),
                    message: "refused".into(),
                },
                "ERR_DIRECT_INVOKE",
                500,
            ),
        ];
        for (kind, code, status) in cases {
            let message = kind.to_string();
            let e = Error::from(kind);
            assert_eq!(e.code().code(), code, "{message}");
            assert_eq!(e.code().http_status().as_u16(), status, "{message}");
            assert!(e.0.message.contains("id: orders"), "{message}");
        }
    }
}
