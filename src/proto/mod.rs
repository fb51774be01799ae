//! Pure protocol parsers. They take bytes and return typed values; they know
//! nothing of steps, lessons or screens.

pub mod engineio;
pub mod socketio;
