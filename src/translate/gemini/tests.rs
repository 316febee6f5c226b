//! Cross-dialect round trips and stream properties.
