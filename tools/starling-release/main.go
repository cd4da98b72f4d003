// Command starling-release is the operator's release tool: keygen makes an
// ed25519 release key pair (the private key stays on the operator's
// machine, never on the service), sign writes a signed release directory
// for a starlingd image, publish copies it where the origin serves releases
// and asks the service to push "release available" to the channel's
// speakers.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/starling-audio/starling/firmware/update"
	"github.com/starling-audio/starling/tools/catalog"
)

var version = "dev"

type cli struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	Keygen  keygenCmd  `cmd:"" help:"Make a release key pair: PREFIX.key (private, 0600) and PREFIX.pub (for speakers' [update] keys)."`
	Sign    signCmd    `cmd:"" help:"Sign an image: writes release.json, release.json.sig and the image into --out."`
	Publish publishCmd `cmd:"" help:"Publish a signed release directory into a catalogue's public/releases and push it to speakers."`
}

type keygenCmd struct {
	Out string `arg:"" help:"Path prefix of the key files." type:"path"`
}

func (k *keygenCmd) Run() error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(k.Out+".key", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing the private key: %w (refusing to overwrite a key)", err)
	}
	if _, err := f.Write(update.FormatPrivateKey(priv)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	line := update.FormatPublicKey(pub) + "\n"
	if err := os.WriteFile(k.Out+".pub", []byte(line), 0o644); err != nil {
		return err
	}
	fmt.Printf("key %s\nprivate: %s.key (keep it offline)\npublic:  %s.pub — add to speakers' config:\n  [update]\n  keys = [%q]\n",
		update.KeyID(pub), k.Out, k.Out, update.FormatPublicKey(pub))
	return nil
}

type signCmd struct {
	Key        string        `required:"" help:"Private key file (from keygen)." type:"existingfile"`
	Image      string        `required:"" help:"The starlingd binary." type:"existingfile"`
	Release    string        `required:"" name:"release" help:"Version of the image, e.g. 2.1.0 (must equal its --version output)."`
	Arch       string        `default:"arm64" help:"GOARCH of the image."`
	Channel    string        `default:"stable" help:"Release channel."`
	MinVersion string        `name:"min-version" help:"Oldest version that may install this release."`
	ExpiresIn  time.Duration `name:"expires-in" default:"720h" help:"Validity: speakers refuse the manifest afterwards (re-sign to extend)."`
	Notes      string        `help:"Release notes."`
	Out        string        `required:"" help:"Output directory (created)." type:"path"`
}

func (s *signCmd) Run() error {
	kb, err := os.ReadFile(s.Key)
	if err != nil {
		return err
	}
	priv, err := update.ParsePrivateKey(kb)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Key, err)
	}
	in, err := os.Open(s.Image)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return err
	}
	name := "starlingd-" + s.Release
	out, err := os.Create(filepath.Join(s.Out, name))
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, update.MaxImageBytes+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying the image: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	m := update.Manifest{Version: s.Release, Arch: s.Arch, Channel: s.Channel, Image: name, Size: n,
		SHA256: hex.EncodeToString(h.Sum(nil)), MinVersion: s.MinVersion, Created: now, Expires: now.Add(s.ExpiresIn), Notes: s.Notes}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	sig := update.Sign(priv, raw)
	// Check what we wrote with the same code the speakers run.
	if _, err := update.Verify(raw, sig, []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}); err != nil {
		return fmt.Errorf("the signed manifest does not verify: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.Out, "release.json"), raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Out, "release.json.sig"), sig, 0o644); err != nil {
		return err
	}
	fmt.Printf("signed %s (%s, %s, %d bytes, sha256 %s) with key %s, expires %s\n", m.Version, m.Arch, m.Channel, m.Size,
		m.SHA256[:16], update.KeyID(priv.Public().(ed25519.PublicKey)), m.Expires.Format(time.RFC3339))
	return nil
}

type publishCmd struct {
	Dir     string `arg:"" help:"Signed release directory (from sign)." type:"existingdir"`
	Catalog string `required:"" help:"Catalogue directory the origin serves (releases go to public/releases/<channel>/<arch>/)." type:"path"`
	Push    string `help:"Service metrics listener host:port; POSTs /admin/push so logged-in speakers of the channel check now."`
}

func (p *publishCmd) Run(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(p.Dir, "release.json"))
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(filepath.Join(p.Dir, "release.json.sig"))
	if err != nil {
		return err
	}
	var m update.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("release.json: %w", err)
	}
	for _, n := range []string{m.Channel, m.Arch, m.Image} {
		if n == "" || filepath.Base(n) != n || n[0] == '.' {
			return fmt.Errorf("release.json: bad channel, arch or image name %q", n)
		}
	}
	dst := filepath.Join(catalog.ReleasesDir(p.Catalog), m.Channel, m.Arch)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	// Image first, then the signature and the manifest that name it, each
	// by rename: a speaker never sees a manifest without its image.
	if err := copyAtomic(filepath.Join(p.Dir, m.Image), filepath.Join(dst, m.Image)); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dst, "release.json.sig"), sig); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dst, "release.json"), raw); err != nil {
		return err
	}
	fmt.Printf("published %s to %s\n", m.Version, dst)
	if p.Push == "" {
		return nil
	}
	u := url.URL{Scheme: "http", Host: p.Push, Path: "/admin/push", RawQuery: url.Values{"kind": {"firmware-release"}, "channel": {m.Channel}}.Encode()}
	body, _ := json.Marshal(map[string]string{"version": m.Version, "arch": m.Arch})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("pushing to %s: %w (published; speakers still find it on their timer)", p.Push, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pushing to %s: HTTP %s: %s", p.Push, resp.Status, b)
	}
	fmt.Printf("pushed to the %q channel: %s", m.Channel, b)
	return nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func copyAtomic(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeAtomic(dst, b)
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("starling-release"),
		kong.Description("Starling release tool: keys, signed manifests, publishing."),
		kong.Vars{"version": version}, kong.UsageOnError())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := kctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "starling-release:", err)
		stop()
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		os.Exit(1)
	}
}
