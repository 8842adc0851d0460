package authstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

const (
	helperEnv = "AUTHSTORE_TEST_HELPER"
	dirEnv    = "AUTHSTORE_TEST_DIR"
	idEnv     = "AUTHSTORE_TEST_ID"
	roundsEnv = "AUTHSTORE_TEST_ROUNDS"
	startEnv  = "AUTHSTORE_TEST_START"
	// serviceEnv is the keyring service name for "keyring-" helper modes.
	serviceEnv = "AUTHSTORE_TEST_SERVICE"
)

// pad makes each entry large enough that a torn write would be visible.
var pad = strings.Repeat("p", 4096)

func increment(cur *Credentials) (*Credentials, error) {
	n := counterOf(cur)
	return &Credentials{ServerURL: "https://counter", Token: &Token{AccessToken: strconv.Itoa(n + 1)}}, nil
}

func counterOf(c *Credentials) int {
	if c == nil || c.Token == nil {
		return 0
	}
	n, _ := strconv.Atoi(c.Token.AccessToken)
	return n
}

func runHelper(mode string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var s Store
	var err error
	if m, ok := strings.CutPrefix(mode, "keyring-"); ok {
		mode = m
		s, err = NewKeyringStore(KeyringOptions{Dir: os.Getenv(dirEnv), Service: os.Getenv(serviceEnv)})
	} else {
		s, err = NewFileStore(FileOptions{Dir: os.Getenv(dirEnv)})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := helper(ctx, mode, s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func helper(ctx context.Context, mode string, s Store) error {
	switch mode {
	case "rmw":
		id := os.Getenv(idEnv)
		rounds, _ := strconv.Atoi(os.Getenv(roundsEnv))
		startNs, _ := strconv.ParseInt(os.Getenv(startEnv), 10, 64)
		time.Sleep(time.Until(time.Unix(0, startNs)))
		for r := range rounds {
			name := fmt.Sprintf("p%s-r%d", id, r)
			if err := s.Update(ctx, name, put(&Credentials{ServerURL: "https://" + name, Token: &Token{AccessToken: pad}})); err != nil {
				return err
			}
			if err := s.Update(ctx, "p"+id, increment); err != nil {
				return err
			}
			if err := s.Update(ctx, "shared", increment); err != nil {
				return err
			}
		}
		return nil
	case "loop":
		all, err := s.List(ctx)
		if err != nil {
			return err
		}
		for n := len(all); n < len(all)+1_000_000 && ctx.Err() == nil; n++ {
			name := "k" + strconv.Itoa(n)
			if err := s.Update(ctx, name, put(&Credentials{ServerURL: "https://" + name, Token: &Token{AccessToken: pad + strconv.Itoa(n)}})); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func helperCmd(t *testing.T, mode, dir string, extra ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = testenv.Env(t, append([]string{"MCPLINK_CREDENTIALS_STORE=", helperEnv + "=" + mode, dirEnv + "=" + dir}, extra...)...)
	return cmd
}

// runRounds runs procs helper processes in mode on dir (with extra K=V),
// each doing rounds read-modify-write rounds from one start instant 300 ms
// ahead (so that they interleave), and fails t for each one that fails.
func runRounds(t *testing.T, mode, dir string, procs, rounds int, extra ...string) {
	t.Helper()
	start := time.Now().Add(300 * time.Millisecond).UnixNano()
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*strings.Builder, procs)
	for i := range procs {
		vars := append([]string{idEnv + "=" + strconv.Itoa(i), roundsEnv + "=" + strconv.Itoa(rounds),
			startEnv + "=" + strconv.FormatInt(start, 10)}, extra...)
		cmds[i] = helperCmd(t, mode, dir, vars...)
		outs[i] = &strings.Builder{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, outs[i])
		}
	}
}

// TestMultiProcessReadModifyWrite runs ten real processes doing interleaved
// read-modify-write rounds on one file: no entry and no increment may be lost.
func TestMultiProcessReadModifyWrite(t *testing.T) {
	const procs, rounds = 10, 4
	dir := t.TempDir()
	runRounds(t, "rmw", dir, procs, rounds)
	if t.Failed() {
		return
	}
	s, _ := newTestStore(t, dir)
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := procs*rounds + procs + 1; len(all) != want {
		t.Errorf("%d entries, want %d", len(all), want)
	}
	for i := range procs {
		for r := range rounds {
			name := fmt.Sprintf("p%d-r%d", i, r)
			if c := all[name]; c == nil || c.ServerURL != "https://"+name || c.Token.AccessToken != pad {
				t.Errorf("entry %s lost or wrong: %+v", name, c)
			}
		}
		if got := counterOf(all["p"+strconv.Itoa(i)]); got != rounds {
			t.Errorf("p%d counter = %d, want %d", i, got, rounds)
		}
	}
	if got := counterOf(all["shared"]); got != procs*rounds {
		t.Errorf("shared counter = %d, want %d (lost read-modify-write)", got, procs*rounds)
	}
}

// TestKilledWriterLeavesValidFile SIGKILLs a process writing in a tight loop
// at random moments; each time the file must parse and hold exactly the
// entries k0..kN-1 with intact contents, and the next writer must proceed.
func TestKilledWriterLeavesValidFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := newTestStore(t, dir)
	prev := 0
	for iter := range 6 {
		cmd := helperCmd(t, "loop", dir)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until this child has written at least one entry, then kill
		// it at a random moment.
		testwait.Until(10*time.Second, func() bool { return countEntries(t, s.Path()) > prev })
		// Until the random kill moment, keep reading: a reader must never
		// see a partial file either.
		killAt := time.Now().Add(time.Duration(rand.IntN(60_000)) * time.Microsecond)
		reads := 0
		for time.Now().Before(killAt) {
			countEntries(t, s.Path())
			reads++
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || (runtime.GOOS != "windows" && ee.Exited()) {
			t.Fatalf("iteration %d: helper was not killed (err %v): %s", iter, err, out.String())
		}

		data, err := os.ReadFile(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		var doc document
		if err := json.Unmarshal(data, &doc); err != nil || doc.Version != 1 {
			t.Fatalf("iteration %d: file invalid after kill (version %d): %v", iter, doc.Version, err)
		}
		n := len(doc.Servers)
		if n <= prev {
			t.Fatalf("iteration %d: %d entries, had %d before this writer", iter, n, prev)
		}
		for i := range n {
			name := "k" + strconv.Itoa(i)
			c, err := decodeEntry(s.Path(), name, doc.Servers[name])
			if doc.Servers[name] == nil || err != nil || c.ServerURL != "https://"+name || c.Token.AccessToken != pad+strconv.Itoa(i) {
				t.Fatalf("iteration %d: entry %s missing or torn (%d entries)", iter, name, n)
			}
		}
		tmps, _ := filepath.Glob(filepath.Join(dir, "credentials.json.tmp-*"))
		t.Logf("iteration %d: killed with %d entries after %d concurrent reads; %d temp files left behind", iter, n, reads, len(tmps))
		prev = n

		// The dead writer's lock is gone and its temp file is cleaned up by
		// the next write.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.Update(ctx, "k"+strconv.Itoa(n), put(&Credentials{ServerURL: "https://k" + strconv.Itoa(n), Token: &Token{AccessToken: pad + strconv.Itoa(n)}}))
		cancel()
		if err != nil {
			t.Fatalf("iteration %d: update after kill: %v", iter, err)
		}
		prev++
		if tmps, _ := filepath.Glob(filepath.Join(dir, "credentials.json.tmp-*")); len(tmps) != 0 {
			t.Fatalf("iteration %d: stale temp files remain: %v", iter, tmps)
		}
	}
}

func countEntries(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("unparseable file while writer runs: %v", err)
	}
	return len(doc.Servers)
}
