// Package ecs is the typed ECS event shared by the sensor and the detection
// engine, its generic store for fields outside the typed struct, the
// compiled field accessors rules use, and its JSON encoding.
//
// It is not a general ECS library: the typed struct holds what macsensor
// produces and what Elastic's macOS rules read most; everything else an
// event file carries is kept in Fields and reached through the same
// Accessor API.
package ecs
