package session

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrBadCredentials is returned for a malformed credentials blob.
var ErrBadCredentials = errors.New("session: malformed device credentials")

// Credentials is the blob `starling-server device add` prints, which a
// speaker's configuration takes as is.
type Credentials struct {
	DeviceID    string `json:"device_id"`
	Secret      string `json:"secret"`       // 64 hex digits
	ServiceAddr string `json:"service_addr"` // host:port of the session listener
	ServicePin  string `json:"service_pin"`  // hex SHA-256 of the service certificate (DER)
	OriginURL   string `json:"origin_url,omitempty"`
}

// ParseCredentials decodes and checks a credentials blob (JSON).
func ParseCredentials(b []byte) (Credentials, error) {
	var c Credentials
	if len(b) > 4096 {
		return c, fmt.Errorf("%w: %d bytes", ErrBadCredentials, len(b))
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	if _, err := c.secret(); err != nil {
		return c, err
	}
	if _, err := c.pin(); err != nil {
		return c, err
	}
	if c.DeviceID == "" || c.ServiceAddr == "" {
		return c, fmt.Errorf("%w: device_id and service_addr are required", ErrBadCredentials)
	}
	return c, nil
}

func (c Credentials) secret() ([]byte, error) {
	s, err := hex.DecodeString(c.Secret)
	if err != nil || len(s) != 32 {
		return nil, fmt.Errorf("%w: secret must be 64 hex digits", ErrBadCredentials)
	}
	return s, nil
}

func (c Credentials) pin() ([32]byte, error) {
	var p [32]byte
	b, err := hex.DecodeString(c.ServicePin)
	if err != nil || len(b) != 32 {
		return p, fmt.Errorf("%w: service_pin must be 64 hex digits (SHA-256 of the service certificate)", ErrBadCredentials)
	}
	copy(p[:], b)
	return p, nil
}

// Apply fills cfg's address, device ID, secret and pin from c.
func (c Credentials) Apply(cfg *Config) error {
	s, err := c.secret()
	if err != nil {
		return err
	}
	p, err := c.pin()
	if err != nil {
		return err
	}
	cfg.Addr, cfg.DeviceID, cfg.Secret, cfg.ServicePin = c.ServiceAddr, c.DeviceID, s, p
	return nil
}
