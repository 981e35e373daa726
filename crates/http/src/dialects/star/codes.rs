//! star-graph's business codes for the generation context's errors.

use gantry_generation::GenerationError;

/// The business code (`E001`…`E007`) of a generation error, if it is a business error.
pub fn business_code(err: &GenerationError) -> Option<&'static str> {
    Some(match err {
        GenerationError::ModelUnavailable(_) => "E001",
        GenerationError::InsufficientBalance { .. } => "E002",
        GenerationError::QueueFull => "E003",
        GenerationError::ImageFormat => "E004",
        GenerationError::ImageTooLarge(_) => "E005",
        GenerationError::Sensitive => "E006",
        GenerationError::NoInstance => "E007",
        _ => return None,
    })
}
