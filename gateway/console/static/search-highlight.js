// Highlighted snippets from the search API, rendered without ever parsing its HTML.
//
// The API sends a field's text HTML-escaped (`&`, `<`, `>`), each matching word
// wrapped in the literal markers `<mark>` and `</mark>`. Those markers are the only
// markup it can hold, so the text is cut at them and every piece becomes a text node
// (or a <mark> element holding one): a name such as `<script>` stays text.

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };
const ENTITY = /&(?:amp|lt|gt|quot|#x27|#39);/g;
const MARKER = /(<mark>|<\/mark>)/;

/** The plain text of an escaped fragment. */
export function unescapeText(escaped) {
  return escaped.replace(ENTITY, (entity) => ENTITIES[entity]);
}

/** The pieces of a highlight: [{text, marked}], in order. */
export function highlightParts(highlight) {
  const parts = [];
  let marked = false;
  for (const token of highlight.split(MARKER)) {
    if (token === "<mark>") {
      marked = true;
    } else if (token === "</mark>") {
      marked = false;
    } else if (token) {
      parts.push({ text: unescapeText(token), marked });
    }
  }
  return parts;
}

/** A fragment of text nodes and <mark> elements for a highlight, or of `fallback` as text. */
export function highlighted(highlight, fallback = "") {
  const fragment = document.createDocumentFragment();
  if (!highlight) {
    fragment.append(document.createTextNode(fallback ?? ""));
    return fragment;
  }
  for (const part of highlightParts(highlight)) {
    if (part.marked) {
      const mark = document.createElement("mark");
      mark.textContent = part.text;
      fragment.append(mark);
    } else {
      fragment.append(document.createTextNode(part.text));
    }
  }
  return fragment;
}

/** Lower case without accents, as the search compares words ("Zoë" and "zoe" are one). */
export function folded(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/** Words of letters and digits in a text, folded. */
export function foldedWords(text) {
  return folded(text).match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * The close spellings the search used for words of `query` that matched no word as
 * typed: the marked words of the hits that no query word is a prefix of, when some
 * query word is a prefix of no marked word. Empty when every word matched as typed.
 */
export function closeSpellings(query, hits) {
  const queryWords = foldedWords(query);
  const marked = new Map();
  for (const hit of hits) {
    for (const highlight of Object.values(hit.highlights ?? {})) {
      if (!highlight) continue;
      for (const part of highlightParts(highlight)) {
        if (part.marked) {
          const key = folded(part.text);
          if (!marked.has(key)) marked.set(key, part.text);
        }
      }
    }
  }
  const keys = [...marked.keys()];
  const unmatched = queryWords.filter((word) => !keys.some((key) => key.startsWith(word)));
  if (!unmatched.length) return { typed: [], found: [] };
  const found = keys.filter((key) => !queryWords.some((word) => key.startsWith(word)));
  return { typed: found.length ? unmatched : [], found: found.map((key) => marked.get(key)) };
}
