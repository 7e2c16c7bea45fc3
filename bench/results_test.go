package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type result struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit,omitempty"`
	Target   string  `json:"target,omitempty"`
}

type results struct {
	N       int       `json:"users"`
	Machine string    `json:"machine"`
	When    time.Time `json:"when"`
	Results []result  `json:"results"`
}

func (r *results) add(scenario, metric string, v float64, unit, target string) {
	r.Results = append(r.Results, result{scenario, metric, v, unit, target})
}

func (r *results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nidsync bench: N=%d users; %s\n", r.N, r.Machine)
	fmt.Fprintf(&b, "%-42s %-52s %12s %-7s %s\n", "SCENARIO", "METRIC", "VALUE", "UNIT", "TARGET (issue 5)")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "%-42s %-52s %12.2f %-7s %s\n", x.Scenario, x.Metric, x.Value, x.Unit, x.Target)
	}
	return b.String()
}

func (r *results) write(path string) error {
	r.When = time.Now().UTC()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// percentile is the nearest-rank percentile p (0–100) of ds, in ms; 0
// for none (results.json cannot hold NaN).
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(int(math.Ceil(p/100*float64(len(s))))-1, 0)
	return float64(s[i]) / float64(time.Millisecond)
}

func machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := procField("/proc/meminfo", "MemTotal:")
	return fmt.Sprintf("%d CPUs (%s), %d MB RAM", runtime.NumCPU(), cpu, mem/1024)
}

// vmHWM reads the peak resident set size, in kB, from a /proc status file.
func vmHWM(path string) int { return procField(path, "VmHWM:") }

// procField reads a "Key: value kB" line of a /proc file; 0 when missing.
func procField(path, key string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
