// Command codecmem measures pkg/media's decoder or encoder in this process, as pkg/memory's model counts them: the
// peak RSS (VmHWM) less the RSS before the codec opened, with the bgr24 frame buffer already allocated and touched.
// The tables in pkg/memory/ffmpeg_model.go came from it, e.g.
//
//	go run ./internal/codecmem -mode enc -path /tmp/e.mp4 -w 10000 -h 10000 -threads 3 -frames 5
//	go run ./internal/codecmem -mode dec -path clip.mp4 -w 3840 -h 2160 -threads 1
//
// The encoder is fed -frames copies of one picture, a few bytes changed each time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/facefleet/facefleet/pkg/media"
)

func status(key string) uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key+":") {
			f := strings.Fields(l)
			v, _ := strconv.ParseUint(f[1], 10, 64)
			return v * 1024
		}
	}
	return 0
}

func main() {
	mode := flag.String("mode", "enc", "enc or dec")
	path := flag.String("path", "", "file")
	w := flag.Int("w", 10000, "")
	h := flag.Int("h", 10000, "")
	threads := flag.Int("threads", 1, "")
	la := flag.Int("lookahead", 0, "")
	frames := flag.Int("frames", 16, "")
	flag.Parse()
	ctx := context.Background()
	buf := make([]byte, *w**h*3)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	base := status("VmRSS")
	switch *mode {
	case "enc":
		e, err := media.NewEncoder(ctx, media.EncoderConfig{Path: *path, Width: *w, Height: *h, FrameRate: media.Rational{Num: 25, Den: 1},
			Quality: 35, Threads: *threads, Lookahead: *la})
		if err != nil {
			panic(err)
		}
		for i := 0; i < *frames; i++ {
			for y := 0; y < *h; y += 97 { // change the picture a little each frame
				buf[(y**w+i*31)*3%len(buf)] ^= 0xff
			}
			if err := e.Write(buf); err != nil {
				panic(err)
			}
		}
		if err := e.Close(); err != nil {
			panic(err)
		}
	case "dec":
		d, err := media.NewDecoder(ctx, media.DecoderConfig{Path: *path, Width: *w, Height: *h, Threads: *threads})
		if err != nil {
			panic(err)
		}
		n := 0
		for d.Read(buf) == nil {
			n++
		}
		d.Close()
		fmt.Fprintf(os.Stderr, "decoded %d frames\n", n)
	}
	hwm := status("VmHWM")
	fmt.Printf("%s threads %d lookahead %d frames %d: base %.0f MiB, peak %.0f MiB, codec %.0f MiB = %.1f B/px\n", *mode, *threads, *la, *frames,
		float64(base)/(1<<20), float64(hwm)/(1<<20), float64(hwm-base)/(1<<20), float64(hwm-base)/float64(*w**h))
}
