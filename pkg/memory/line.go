package memory

import (
	"fmt"
	"strings"
	"time"
)

// Line is the live progress line, in the shape roop users know:
// Processing: 71%|███████   | 1276/1793 [23:16<09:25, 1.09s/frame, memory_usage=6.45GB (S:78%, G:65%), execution_providers=['CPUExecutionProvider'], execution_threads=2, batch_size=3]
type Line struct {
	Done, Total int
	Elapsed     time.Duration
	Mem         Sample
	Providers   []string
	Threads     int
	Batch       int
}

const barWidth = 10

func (l Line) String() string {
	frac := 0.0
	if l.Total > 0 {
		frac = float64(l.Done) / float64(l.Total)
	}
	if frac > 1 {
		frac = 1
	}
	full := int(frac * barWidth)
	bar := strings.Repeat("█", full) + strings.Repeat(" ", barWidth-full)
	rate, remaining := "?s/frame", "?"
	if l.Done > 0 {
		per := l.Elapsed.Seconds() / float64(l.Done)
		rate = fmt.Sprintf("%.2fs/frame", per)
		remaining = clock(time.Duration(per * float64(l.Total-l.Done) * float64(time.Second)))
	}
	gpu := "n/a"
	if l.Mem.GPUPct >= 0 {
		gpu = fmt.Sprintf("%.0f%%", l.Mem.GPUPct)
	}
	provs := make([]string, len(l.Providers))
	for i, p := range l.Providers {
		provs[i] = "'" + p + "'"
	}
	return fmt.Sprintf("Processing: %d%%|%s| %d/%d [%s<%s, %s, memory_usage=%.2fGB (S:%.0f%%, G:%s), execution_providers=[%s], execution_threads=%d, batch_size=%d]",
		int(frac*100), bar, l.Done, l.Total, clock(l.Elapsed), remaining, rate,
		float64(l.Mem.RSS)/(1<<30), l.Mem.SystemPct, gpu, strings.Join(provs, ", "), l.Threads, l.Batch)
}

// clock formats like tqdm: mm:ss, or h:mm:ss past an hour.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}
