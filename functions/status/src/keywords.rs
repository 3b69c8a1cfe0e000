//! Opt-out and opt-in keywords.
//!
//! A message opts out (or in) only when its whole text, trimmed, *is* a
//! keyword: "STOP" and "  Stop! " do, "Não quero parar" and "stop sending
//! me offers" do not. Text is compared folded: lower case, accents removed
//! from Latin letters (also when they arrive as combining marks), runs of
//! white space made one space, and punctuation at either end dropped, so
//! "SAÍR", "sair." and "¡Baja!" match `SAIR` and `BAJA`. Emoji and anything
//! else stay as they are ("STOP 🛑" is not "STOP").

use std::collections::BTreeSet;

/// English, Portuguese and Spanish words people send to stop messages.
/// `PARA`/`PARE` are the Portuguese imperatives ("stop!"), which as a whole
/// message mean nothing else; `CANCELAR` is on the list as the issue asks,
/// though a business that asks "reply CANCELAR to cancel your booking"
/// must configure its own list.
pub const DEFAULT_OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "STOP PROMOTIONS",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPT OUT",
    "OPTOUT",
    "OPT-OUT",
    "SAIR",
    "PARAR",
    "PARA",
    "PARE",
    "CANCELAR",
    "REMOVER",
    "DESCADASTRAR",
    "DESINSCREVER",
    "BAJA",
    "DAR DE BAJA",
    "DARME DE BAJA",
    "DETENER",
    "DESUSCRIBIR",
    "DESUSCRIBIRME",
];

/// Words that resume messages after an opt-out.
pub const DEFAULT_OPT_IN: &[&str] = &[
    "START",
    "UNSTOP",
    "SUBSCRIBE",
    "OPT IN",
    "OPTIN",
    "OPT-IN",
    "RESUME PROMOTIONS",
    "VOLTAR",
    "RETOMAR",
    "ASSINAR",
    "INSCREVER",
    "REATIVAR",
    "ALTA",
    "DAR DE ALTA",
    "DARME DE ALTA",
    "SUSCRIBIR",
    "SUSCRIBIRME",
    "REANUDAR",
    "REACTIVAR",
];

/// What a keyword asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    Out,
    In,
}

/// The configured keyword lists, folded once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    opt_out: BTreeSet<String>,
    opt_in: BTreeSet<String>,
}

impl Default for Keywords {
    fn default() -> Self {
        Self::new(DEFAULT_OPT_OUT.iter(), DEFAULT_OPT_IN.iter())
            .unwrap_or_else(|_| unreachable!("the default lists are disjoint"))
    }
}

impl Keywords {
    /// Folds both lists. A word that folds to nothing, or that is on both
    /// lists, is refused: the contact's state would depend on luck.
    pub fn new<O, I>(opt_out: O, opt_in: I) -> Result<Self, String>
    where
        O: IntoIterator,
        O::Item: AsRef<str>,
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let fold_all = |words: Vec<String>| -> Result<BTreeSet<String>, String> {
            words
                .into_iter()
                .map(|w| {
                    let folded = fold(&w);
                    if folded.is_empty() {
                        Err(format!("{w:?} is empty once folded"))
                    } else {
                        Ok(folded)
                    }
                })
                .collect()
        };
        let opt_out = fold_all(opt_out.into_iter().map(|w| w.as_ref().to_owned()).collect())?;
        let opt_in = fold_all(opt_in.into_iter().map(|w| w.as_ref().to_owned()).collect())?;
        if let Some(both) = opt_out.intersection(&opt_in).next() {
            return Err(format!("{both:?} is both an opt-out and an opt-in keyword"));
        }
        Ok(Self { opt_out, opt_in })
    }

    /// Splits a comma-separated setting. `none` means an empty list (keyword
    /// handling off for that direction).
    pub fn parse_list(raw: &str) -> Vec<String> {
        if raw.trim().eq_ignore_ascii_case("none") {
            return Vec::new();
        }
        raw.split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether `text` as a whole is a keyword, and the folded keyword.
    pub fn classify(&self, text: &str) -> Option<(Opt, String)> {
        let folded = fold(text);
        if folded.is_empty() {
            return None;
        }
        if self.opt_out.contains(&folded) {
            Some((Opt::Out, folded))
        } else if self.opt_in.contains(&folded) {
            Some((Opt::In, folded))
        } else {
            None
        }
    }

    pub fn opt_out(&self) -> impl Iterator<Item = &str> {
        self.opt_out.iter().map(String::as_str)
    }

    pub fn opt_in(&self) -> impl Iterator<Item = &str> {
        self.opt_in.iter().map(String::as_str)
    }
}

/// Folds text for comparison (see the module comment).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        for lower in c.to_lowercase() {
            if is_invisible(lower) {
                continue;
            }
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            match base_letter(lower) {
                Some(base) => out.push_str(base),
                None => out.push(lower),
            }
        }
    }
    let trimmed =
        out.trim_matches(|c: char| c.is_ascii_punctuation() || is_punctuation(c) || c == ' ');
    trimmed.to_owned()
}

/// Combining diacritics (decomposed accents) and zero-width characters.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn is_punctuation(c: char) -> bool {
    matches!(
        c,
        '¡' | '¿' | '…' | '«' | '»' | '“' | '”' | '‘' | '’' | '–' | '—' | '·'
    )
}

/// The unaccented form of a lower-case Latin letter from Latin-1 and
/// Latin Extended-A; `None` when there is nothing to remove.
fn base_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'ª' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'º' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_case_accents_and_edges() {
        assert_eq!(fold("  STOP  "), "stop");
        assert_eq!(fold("Não"), "nao");
        assert_eq!(fold("SAÍR"), "sair");
        assert_eq!(fold("¡Baja!"), "baja");
        assert_eq!(fold("  pára "), "para");
        // Decomposed: "a" + combining acute.
        assert_eq!(fold("pa\u{0301}ra"), "para");
        assert_eq!(fold("dar   de\tbaja"), "dar de baja");
        assert_eq!(fold("\u{200B}stop\u{FEFF}"), "stop");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("opt-out."), "opt-out");
        assert_eq!(fold("STOP 🛑"), "stop 🛑");
        assert_eq!(fold("..."), "");
        assert_eq!(fold(""), "");
    }

    #[test]
    fn the_whole_text_must_be_a_keyword_in_any_of_three_languages() {
        let k = Keywords::default();
        for text in [
            "STOP",
            "stop",
            " Stop! ",
            "Unsubscribe",
            "SAIR",
            "sair.",
            "Parar",
            "CANCELAR",
            "remover",
            "BAJA",
            "¡baja!",
            "Dar de baja",
            "pára",
            "PARE",
        ] {
            assert_eq!(k.classify(text).map(|(o, _)| o), Some(Opt::Out), "{text:?}");
        }
        for text in [
            "START",
            "start",
            "Voltar",
            "VOLTAR!",
            "alta",
            "Dar de Alta",
            "reanudar",
        ] {
            assert_eq!(k.classify(text).map(|(o, _)| o), Some(Opt::In), "{text:?}");
        }
        for text in [
            "Não quero parar",
            "please stop sending",
            "STOP 🛑",
            "stopp",
            "",
            "   ",
            "Olá! Quero remarcar",
        ] {
            assert_eq!(k.classify(text), None, "{text:?}");
        }
        assert_eq!(k.classify("  Dar   DE baja ").unwrap().1, "dar de baja");
    }

    #[test]
    fn configured_lists_replace_the_defaults() {
        let k = Keywords::new(
            Keywords::parse_list(" Desligar , ,NÃO QUERO"),
            Keywords::parse_list("ligar"),
        )
        .unwrap();
        assert_eq!(k.classify("desligar").map(|(o, _)| o), Some(Opt::Out));
        assert_eq!(k.classify("Nao quero").map(|(o, _)| o), Some(Opt::Out));
        assert_eq!(k.classify("LIGAR").map(|(o, _)| o), Some(Opt::In));
        assert_eq!(k.classify("STOP"), None);
        assert!(Keywords::parse_list("None").is_empty());
        assert!(
            Keywords::new(["stop"], ["STOP"])
                .unwrap_err()
                .contains("both")
        );
        assert!(Keywords::new(["!!"], ["x"]).unwrap_err().contains("empty"));
    }
}
