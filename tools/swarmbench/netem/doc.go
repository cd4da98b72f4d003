// Package netem emulates a wide-area network in user space on loopback,
// for machines whose kernel has no netem: a Proxy accepts TCP connections
// on 127.0.0.1, dials a fixed target, and copies bytes both ways through a
// Shaper that holds every segment for a one-way delay and paces one
// direction to an upload rate (a token bucket from golang.org/x/time/rate).
//
// Design. The timing decision is a pure function of (now, byte count)
// (Shaper.Schedule), so tests check delay and rate with an injected clock
// and byte counts instead of wall-clock assertions. The copying side is two
// goroutines per direction — a reader that stamps each segment with its
// delivery time and a writer that waits for it — joined by a bounded queue,
// so a slow receiver applies back-pressure to the sender rather than
// growing memory. Delivery times are monotone, so order is preserved.
// Every goroutine belongs to the Proxy and ends with Close or its context.
//
// Limits: delay is added per segment as read (whole reads up to 16 KiB),
// not per packet; there is no loss, reordering or jitter.
//
// Imports: the standard library and golang.org/x/time/rate only. Benchmark
// tooling; the firmware never imports it.
package netem
