//! Each source stores a message before it acknowledges it.
