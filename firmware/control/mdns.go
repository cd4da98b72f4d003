package control

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/hashicorp/mdns"
)

// MDNSService is the DNS-SD service type under which the API is advertised.
const MDNSService = "_starling._tcp"

// validInstance checks a DNS-SD instance name: one DNS label of printable
// text (dots are not allowed by the library we use).
func validInstance(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("%q: want 1 to 63 bytes", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '.' || r == '\\' {
			return fmt.Errorf("%q: no dots, backslashes or control characters", name)
		}
	}
	return nil
}

// hostLabel turns a host name into a DNS label usable under .local.
func hostLabel(h string) string {
	h, _, _ = strings.Cut(h, ".")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	if s == "" {
		s = "starling"
	}
	return s
}

// advertisement describes what is announced over mDNS.
type advertisement struct {
	Instance string   // device name
	Host     string   // host label, without .local.
	Port     int      // API port
	IPs      []net.IP // addresses of the API
	Version  string   // firmware version
}

// service builds the mDNS zone: PTR _starling._tcp.local. → instance, SRV
// → host.local.:port, A/AAAA, and TXT version=, name=, path=.
func (a advertisement) service() (*mdns.MDNSService, error) {
	if err := validInstance(a.Instance); err != nil {
		return nil, fmt.Errorf("mDNS instance name: %w", err)
	}
	if a.Port <= 0 || a.Port > 65535 {
		return nil, fmt.Errorf("mDNS: port %d out of range", a.Port)
	}
	if len(a.IPs) == 0 {
		return nil, errors.New("mDNS: no address to advertise (no up, multicast-capable, non-loopback interface)")
	}
	txt := []string{
		"version=" + a.Version,
		"name=" + a.Instance,
		"path=" + APIPrefix,
	}
	svc, err := mdns.NewMDNSService(a.Instance, MDNSService, "local.", hostLabel(a.Host)+".local.", a.Port, a.IPs, txt)
	if err != nil {
		return nil, fmt.Errorf("building mDNS service record: %w", err)
	}
	return svc, nil
}

// advertisedIPs returns the addresses to announce for a listener bound to
// addr: that address if it is specific, otherwise every address of every
// up, multicast-capable, non-loopback interface.
func advertisedIPs(addr net.Addr) ([]net.IP, error) {
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP != nil && !ta.IP.IsUnspecified() {
		return []net.IP{ta.IP}, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	var ips []net.IP
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				ips = append(ips, n.IP)
			}
		}
	}
	return ips, nil
}

// startMDNS starts the responder for a listener; the caller shuts it down.
func (s *Server) startMDNS(addr net.Addr) (*mdns.Server, error) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("mDNS: listener address %v is not TCP", addr)
	}
	ips, err := advertisedIPs(addr)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	name := s.cfg.DeviceName
	if name == "" {
		name = hostLabel(host)
	}
	svc, err := advertisement{Instance: name, Host: host, Port: ta.Port, IPs: ips, Version: s.cfg.Version}.service()
	if err != nil {
		return nil, err
	}
	srv, err := mdns.NewServer(&mdns.Config{
		Zone:   svc,
		Logger: slog.NewLogLogger(s.log.With("part", "mdns").Handler(), slog.LevelWarn),
	})
	if err != nil {
		return nil, fmt.Errorf("starting mDNS responder: %w (is UDP port 5353 free and multicast allowed?)", err)
	}
	s.log.Info("advertising control API over mDNS", "service", MDNSService, "instance", name, "port", ta.Port, "ips", len(ips))
	return srv, nil
}
