// Package eql is macsensor's Event Query Language front end: a lexer and
// parser for Elasticsearch's EQL grammar, the AST the detection engine
// codes against, and a compiler from event queries to allocation-free
// matchers over ecs.Event and from join keys to key encoders.
//
// The contract is Elasticsearch EQL (7.12+), not Endgame's Python EQL:
// == != < <= > >= in like regex are case-sensitive; :, like~, regex~, in~
// and the ~ functions are case-insensitive; : and like take * and ?
// wildcards; regex is a Lucene regular expression matched against the
// whole value (translated to Go's RE2, see translateRegex). Comparisons of
// a field with constants behave like Elasticsearch queries (missing fields
// never match a positive test and always match a negated one, arrays match
// on any element); functions and arithmetic over fields behave like
// Elasticsearch scripts (null in, null out; null never matches). See
// Compile for details.
//
// What it is not: it does not run sequences (package detect does, with
// Matcher and KeyFunc), and it does not support join, sample, missing
// events (![...]), lineage (child of), array indexing, or pipes other than
// head and tail; those are parse errors that say so.
package eql
