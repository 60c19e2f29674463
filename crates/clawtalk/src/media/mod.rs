//! Media: what users send (pictures, files, video) made readable for the agent, and what the
//! agent sends back (images and files).
//!
//! - [`extract`]: text of received documents (pdf, docx, xlsx, pptx, text, zip).
pub mod extract;
