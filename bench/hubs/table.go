package main

import (
	"fmt"
	"runtime"
	"time"
)

// printTable prints the figures as one Markdown table, each PostgreSQL
// figure next to its ratio to SQLite's.
func printTable(cfg config, lite, one, two figures) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	ratio := func(a, b float64) string { return fmt.Sprintf("%.2f×", a/b) }
	dur := func(name string, get func(figures) []time.Duration, pick func([]time.Duration) time.Duration, withTwo bool) {
		l, o := pick(get(lite)), pick(get(one))
		row := fmt.Sprintf("| %s | %s | %s | %s |", name, ms(l), ms(o), ratio(float64(o), float64(l)))
		if withTwo {
			t := pick(get(two))
			row += fmt.Sprintf(" %s | %s |", ms(t), ratio(float64(t), float64(l)))
		} else {
			row += " – | – |"
		}
		fmt.Println(row)
	}
	worst := func(d []time.Duration) time.Duration { return d[len(d)-1] }
	newest := func(f figures) []time.Duration { return f.newest }
	middle := func(f figures) []time.Duration { return f.middle }
	event := func(f figures) []time.Duration { return f.event }
	send := func(f figures) []time.Duration { return f.send }

	fmt.Println("| through the hub (gRPC, Go client) | SQLite, one node | PostgreSQL, one node | vs SQLite | PostgreSQL, two nodes | vs SQLite |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	fmt.Printf("| sends/s, %d senders, %v | %.0f | %.0f | %s | %.0f | %s |\n", cfg.senders, cfg.duration,
		lite.sendsPerSec, one.sendsPerSec, ratio(one.sendsPerSec, lite.sendsPerSec),
		two.sendsPerSec, ratio(two.sendsPerSec, lite.sendsPerSec))
	perSend := func(name string, get func(cpuUse) time.Duration) {
		us := func(f figures) float64 {
			return float64(get(f.cpu)) / float64(time.Microsecond) / (f.sendsPerSec * cfg.duration.Seconds())
		}
		l, o, t := us(lite), us(one), us(two)
		fmt.Printf("| %s | %.0f µs | %.0f µs | %s | %.0f µs | %s |\n", name, l, o, ratio(o, l), t, ratio(t, l))
	}
	perSend("CPU per send: hubfs serve", func(u cpuUse) time.Duration { return u.hubs })
	perSend("CPU per send: the 16 clients (this program)", func(u cpuUse) time.Duration { return u.client })
	perSend("CPU per send: the whole machine", func(u cpuUse) time.Duration { return u.machine })
	busy := func(f figures) float64 {
		return 100 * float64(f.cpu.machine) / float64(cfg.duration) / float64(runtime.NumCPU())
	}
	fmt.Printf("| machine busy while sending (%d cores) | %.0f %% | %.0f %% | | %.0f %% | |\n", runtime.NumCPU(), busy(lite), busy(one), busy(two))
	page := fmt.Sprintf("ListInboxMessages %s of %s", thousands(cfg.page), thousands(cfg.stored))
	dur(page+", newest, median of "+fmt.Sprint(cfg.lists), newest, median, false)
	dur(page+", newest, p90", newest, p90, false)
	dur(page+", from the middle, median", middle, median, false)
	dur(page+", from the middle, p90", middle, p90, false)
	fmt.Printf("| send → Listen event (%d sends) | %s | %s | | %s | |\n", cfg.latency, lite.eventNote, one.eventNote, two.eventNote)
	dur("send → Listen event, median", event, median, true)
	dur("send → Listen event, worst", event, worst, true)
	dur("of which the send's round trip, median", send, median, true)
	firsts := func(f figures) []time.Duration { return []time.Duration{f.first} }
	dur("first send after the sends/s load → its events on both nodes", firsts, median, true)
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
