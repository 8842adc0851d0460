// Command testsummary runs `go test -json` and prints what `go test` would
// (one line per package, the output of failed tests), records the counts,
// and, with -final, prints the test command's closing summary.
//
//	go run ./internal/testsummary -record DIR/unit.json -- go test -json ./...
//	go run ./internal/testsummary -final DIR
//
// The closing summary is one line of per-package counts, the skipped tests
// with their reasons, and last "summary: N passed, N failed, N skipped".
// Conformance counts come from a "conformance: N passed, N failed, N
// skipped" line in DIR/conformance.txt, when there is one.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// record is what one run leaves for the final summary.
type record struct {
	Name         string   `json:"name"`
	Passed       int      `json:"passed"`
	Failed       int      `json:"failed"`
	Skipped      int      `json:"skipped"`
	PackagesOK   int      `json:"packagesOk"`
	PackagesFail int      `json:"packagesFailed"`
	Skips        []string `json:"skips"` // "pkg TestName: reason"
	ExitCode     int      `json:"exitCode"`
}

func main() {
	rec := flag.String("record", "", "run the command after -- and write its counts to this file")
	final := flag.String("final", "", "print the closing summary of the records in this directory")
	flag.Parse()
	switch {
	case *final != "":
		os.Exit(summarize(*final, os.Stdout))
	case *rec != "" && flag.NArg() > 0:
		os.Exit(run(*rec, flag.Args(), os.Stdout, os.Stderr))
	}
	fmt.Fprintln(os.Stderr, "usage: testsummary -record FILE -- go test -json ... | testsummary -final DIR")
	os.Exit(2)
}

func run(file string, argv []string, stdout, stderr io.Writer) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	r := scan(out, stdout)
	code := 0
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(stderr, "testsummary:", err)
			return 1
		}
		code = ee.ExitCode()
	}
	if code == 0 && r.Failed+r.PackagesFail > 0 {
		code = 1
	}
	r.ExitCode = code
	r.Name = strings.TrimSuffix(filepath.Base(file), ".json")
	data, _ := json.Marshal(r)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	return code
}

// scan reads test2json events from in, echoes package lines and the output
// of failed tests to w, and counts.
func scan(in io.Reader, w io.Writer) *record {
	r := &record{}
	buf := map[string][]string{} // "pkg\x00Test" → output lines
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text()) // not JSON: pass it on
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "output" && e.Test == "":
			if o := strings.TrimSpace(e.Output); o != "PASS" && o != "FAIL" && !strings.HasPrefix(o, "=== ") && !strings.HasPrefix(o, "--- ") {
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "output":
			buf[key] = append(buf[key], e.Output)
		case e.Test == "" && e.Action == "pass":
			r.PackagesOK++
		case e.Test == "" && e.Action == "fail":
			r.PackagesFail++
		case e.Test != "" && e.Action == "pass":
			r.Passed++
			delete(buf, key)
		case e.Test != "" && e.Action == "fail":
			r.Failed++
			for _, l := range buf[key] {
				fmt.Fprint(w, l)
			}
			delete(buf, key)
		case e.Test != "" && e.Action == "skip":
			r.Skipped++
			r.Skips = append(r.Skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(buf[key])))
			delete(buf, key)
		}
	}
	return r
}

// skipReason is the message a skipped test gave (t.Skip's text).
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msg = append(msg, t)
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return msg[len(msg)-1]
}

var conformanceLine = regexp.MustCompile(`(?m)^conformance: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?`)

func summarize(dir string, w io.Writer) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	sort.Strings(files)
	var total record
	var parts []string
	code := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		var r record
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		if err != nil {
			fmt.Fprintf(w, "testsummary: %s: %v\n", f, err)
			code = 1
			continue
		}
		total.Passed += r.Passed
		total.Failed += r.Failed
		total.Skipped += r.Skipped
		total.Skips = append(total.Skips, r.Skips...)
		if r.ExitCode != 0 {
			code = 1
		}
		parts = append(parts, fmt.Sprintf("%s: %d packages ok, %d failed; %d tests passed, %d failed, %d skipped",
			r.Name, r.PackagesOK, r.PackagesFail, r.Passed, r.Failed, r.Skipped))
	}
	if data, err := os.ReadFile(filepath.Join(dir, "conformance.txt")); err == nil {
		if m := conformanceLine.FindSubmatch(data); m != nil {
			p, _ := strconv.Atoi(string(m[1]))
			f, _ := strconv.Atoi(string(m[2]))
			s, _ := strconv.Atoi(string(m[3]))
			total.Passed, total.Failed, total.Skipped = total.Passed+p, total.Failed+f, total.Skipped+s
			parts = append(parts, fmt.Sprintf("conformance: %d checks passed, %d failed, %d not exercised", p, f, s))
			if f > 0 {
				code = 1
			}
		}
	}
	for _, s := range total.Skips {
		fmt.Fprintln(w, "skipped:", s)
	}
	fmt.Fprintln(w, strings.Join(parts, " | "))
	if total.Failed > 0 {
		code = 1
	}
	fmt.Fprintf(w, "summary: %d passed, %d failed, %d skipped\n", total.Passed, total.Failed, total.Skipped)
	return code
}
