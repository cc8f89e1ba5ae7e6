package fleet

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/facefleet/facefleet/pkg/memory"
)

// WriteTable prints hs as an aligned table, one line per record, with how long ago each was written as of now,
// then a line for each worker in trouble of its own; an empty hs prints "no workers are alive". Write errors are w's to report (a failed terminal is not ours to fix).
func WriteTable(w io.Writer, hs []Heartbeat, now time.Time) {
	if len(hs) == 0 {
		fmt.Fprintln(w, "no workers are alive")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tCPU\tRAM\tGPU\tPROVIDERS\tSLOTS\tBUDGET\tBATCH@1080p\tTASKS\tFPS\tSEEN")
	for _, h := range hs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%.1f\t%s\n",
			h.ID, h.Host, h.CPUs, freeOfTotal(h.RAMFree, h.RAMTotal), gpuCell(h.GPUs), listCell(h.Providers),
			h.Slots, budgetCell(h.MemoryBudget), h.Batch1080p, listCell(h.Tasks), h.FPS, seenCell(now.Sub(h.Updated)))
	}
	_ = tw.Flush()
	for _, h := range hs { // under the table: a sentence does not fit a column
		if h.Trouble != "" {
			fmt.Fprintf(w, "%s: %s\n", h.ID, h.Trouble)
		}
	}
}

// gb renders bytes in GB (2^30) with one decimal.
func gb(b uint64) string { return strconv.FormatFloat(float64(b)/memory.GB, 'f', 1, 64) }

func freeOfTotal(free, total uint64) string { return gb(free) + "/" + gb(total) + " GB" }

// gpuCell is each GPU's name and free/total memory, then, on the device the worker plans, what it planned of its
// budget: "NVIDIA A10 20.0/22.0 GB planned 9.5/18.0 GB". "-" without a GPU.
func gpuCell(gpus []GPU) string {
	if len(gpus) == 0 {
		return "-"
	}
	cells := make([]string, len(gpus))
	for i, g := range gpus {
		cells[i] = g.Name + " " + freeOfTotal(g.MemFree, g.MemTotal)
		if g.Budget > 0 {
			cells[i] += " planned " + gb(g.Planned) + "/" + gb(g.Budget) + " GB"
		}
	}
	return strings.Join(cells, "; ")
}

func listCell(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ",")
}

func budgetCell(b uint64) string {
	if b == 0 {
		return "none"
	}
	if b < memory.GB {
		return strconv.FormatFloat(float64(b)/memory.GB, 'f', 2, 64) + " GB" // a 0.05 GB budget is not "0.0 GB"
	}
	return gb(b) + " GB"
}

// seenCell is an age in whole seconds. A record from a host whose clock runs ahead would look written in the
// future; it reads as just now.
func seenCell(age time.Duration) string {
	return max(age, 0).Round(time.Second).String() + " ago"
}
