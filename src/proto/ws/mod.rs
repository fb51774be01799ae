//! The WebSocket protocol (RFC 6455) and its permessage-deflate extension
//! (RFC 7692), read by an observer.
//!
//! Split by protocol concept, as tungstenite does:
//! - [`handshake`]: the HTTP/1.1 Upgrade exchange (§4) and the
//!   `Sec-WebSocket-Accept` derivation, every stage exposed;
//! - [`extensions`]: the `Sec-WebSocket-Extensions` grammar (§9.1) and
//!   permessage-deflate's parameters (RFC 7692 §7.1);
//! - [`frame`]: the base framing protocol's header (§5.2);
//! - [`mask`]: client-to-server masking (§5.3);
//! - [`close`]: the Close frame body and status codes (§5.5.1, §7.4);
//! - [`assemble`]: fragments into messages, with every framing rule of §5.4
//!   and §5.5 checked and reported as data;
//! - [`deflate`]: inflating compressed messages (RFC 7692 §7.2) with a cap.
//!
//! Nothing here refuses to go on: an observer records what a peer would
//! have failed the connection for and keeps decoding.

#![warn(missing_docs)]

pub mod assemble;
pub mod close;
pub mod deflate;
pub mod extensions;
pub mod frame;
pub mod handshake;
pub mod mask;

pub use assemble::{
    Assembler, AssemblerConfig, AssemblyEvent, Message, Sender, Violation, text_problem,
};
pub use close::{
    ClosePayload, CloseProblem, CodeValidity, close_code_label, close_code_name, parse_close,
};
pub use deflate::{InflateError, Inflated, Inflater};
pub use extensions::{DeflateParams, Extension, parse_extensions};
pub use frame::{FrameHeader, LengthForm, OpCode};
pub use handshake::{
    AcceptDerivation, GUID, RequestCheck, RequestProblem, ResponseCheck, ResponseProblem,
    check_request, check_response, derive_accept,
};
pub use mask::apply_mask;
