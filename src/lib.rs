//! dispel: replay a packet capture through an instrumented protocol stack.
pub mod proto;
