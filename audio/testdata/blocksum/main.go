// Command blocksum reads interleaved s16le PCM on stdin and prints, per block
// of 1024 frames and per channel, the sum of the samples and the sum of their
// absolute values: a compact fingerprint of oggdec's output that tolerates
// one-step rounding differences. Used by make-reference.sh.
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
)

func main() {
	ch, err := strconv.Atoi(os.Args[1])
	if err != nil || ch < 1 || ch > 8 {
		fmt.Fprintln(os.Stderr, "usage: blocksum CHANNELS < pcm.s16le")
		os.Exit(2)
	}
	r := bufio.NewReader(os.Stdin)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	frame := make([]byte, 2*ch)
	sum := make([]int64, ch)
	abs := make([]int64, ch)
	n := 0
	flush := func() {
		for c := 0; c < ch; c++ {
			fmt.Fprintf(w, "\t%d\t%d", sum[c], abs[c])
			sum[c], abs[c] = 0, 0
		}
		fmt.Fprintf(w, "\t%d\n", n)
		n = 0
	}
	for {
		if _, err := io.ReadFull(r, frame); err != nil {
			break
		}
		for c := 0; c < ch; c++ {
			v := int64(int16(binary.LittleEndian.Uint16(frame[2*c:])))
			sum[c] += v
			if v < 0 {
				v = -v
			}
			abs[c] += v
		}
		n++
		if n == 1024 {
			fmt.Fprint(w, "b")
			flush()
		}
	}
	if n > 0 {
		fmt.Fprint(w, "b")
		flush()
	}
}
