//! placeholder: filled by its module's work
