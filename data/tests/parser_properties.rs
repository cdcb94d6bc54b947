//! Property tests of the parsers of user text in this crate: ENVI headers and
//! `class_id,name` tables. What is written reads back; nothing panics.

use hypersynth_data::{EnviHeader, parse_class_names};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_header_text_is_parsed_or_refused_without_panicking(text in "(ENVI\n)?[ -~\n{}=,]{0,300}") {
        if let Ok(header) = EnviHeader::parse(&text) {
            let _ = (header.numbers("wavelength"), header.integer("samples"), header.strings("spectra names"));
        }
    }

    #[test]
    fn header_lists_read_back(
        samples in 1usize..100_000,
        wavelengths in prop::collection::vec(0.3..2.6f64, 1..40),
        per_line in 1usize..8,
    ) {
        let lines: Vec<String> = wavelengths.chunks(per_line).map(|c| c.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", ")).collect();
        let text = format!("ENVI\nSamples = {samples}\nwavelength = {{\n {}}}\nbyte order = 0\n", lines.join(",\n "));
        let header = EnviHeader::parse(&text).unwrap();
        prop_assert_eq!(header.integer("samples"), Some(samples));
        prop_assert_eq!(header.numbers("wavelength"), Some(wavelengths));
        prop_assert_eq!(header.integer("byte order"), Some(0));
    }

    #[test]
    fn any_class_table_text_is_parsed_or_refused_without_panicking(text in "[ -~\n]{0,200}") {
        let _ = parse_class_names(text.as_bytes());
    }

    #[test]
    fn class_tables_read_back_and_repeated_ids_are_refused(
        classes in prop::collection::btree_map(1u32..10_000, "[A-Za-z][A-Za-z0-9_ -]{0,15}[A-Za-z0-9]", 1..20),
        repeat in any::<prop::sample::Index>(),
    ) {
        let rows: Vec<String> = classes.iter().map(|(id, name)| format!("{id},{name}")).collect();
        let text = format!("class_id,name\n{}\n", rows.join("\n"));
        prop_assert_eq!(parse_class_names(text.as_bytes()).unwrap(), classes.clone());
        let again = repeat.get(&rows);
        let doubled = format!("{text}{again}\n");
        let err = parse_class_names(doubled.as_bytes()).unwrap_err();
        prop_assert!(err.contains("is listed twice"), "{}", err);
    }
}
