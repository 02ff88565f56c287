// Package ecs is the typed ECS event shared by the sensor and the detection
// engine, its generic store for fields outside the typed struct, the
// compiled field accessors rules use, and its JSON encoding.
//
// It is not a general ECS library: the typed struct holds what macsensor
// produces and what Elastic's macOS rules read most; everything else an
// event file carries is kept in Fields and reached through the same
// Accessor API.
//
// JSON: Event.AppendJSON writes one nested ECS object without allocating;
// Decode reads one ndjson line (nested objects, dotted keys or a mix) with
// a hand-written scanner, filling typed fields from values of their type
// and Fields from everything else; Reader reads an ndjson stream with line
// numbers, skipping malformed lines, optionally decoding in parallel while
// keeping input order. AppendJSON → Decode → AppendJSON is a fixed point
// (FuzzDecode checks it). Neither side uses encoding/json or reflection.
package ecs
