//! The output bindings API shared by HTTP and gRPC, with daprd's codes.

use super::{Error, ErrorCode};
use crate::node::Node;
use jetway_blocks::bindings::{self, Request, Response};
use jetway_core::Context;

impl From<bindings::Error> for Error {
    fn from(e: bindings::Error) -> Error {
        let code = match e {
            bindings::Error::Denied { .. } => ErrorCode::OutputBindingDenied,
            bindings::Error::NotFound(_) | bindings::Error::Failed { .. } => {
                ErrorCode::OutputBinding
            }
        };
        Error::new(code, e.to_string())
    }
}

/// Calls output binding `name`.
pub(crate) async fn invoke(
    node: &Node,
    ctx: &Context,
    name: &str,
    request: Request,
) -> Result<Response, Error> {
    Ok(node.bindings.invoke(ctx, name, request).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_daprds_code() {
        let cases = [
            (bindings::Error::NotFound("b".into()), 500),
            (
                bindings::Error::Failed {
                    name: "b".into(),
                    message: "down".into(),
                },
                500,
            ),
            (
                bindings::Error::Denied {
                    name: "b".into(),
                    caller: "a".into(),
                },
                403,
            ),
        ];
        for (e, status) in cases {
            let e = Error::from(e);
            assert_eq!(e.code().code(), "ERR_INVOKE_OUTPUT_BINDING");
            assert_eq!(e.code().http_status().as_u16(), status);
        }
    }
}
