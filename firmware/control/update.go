package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Update paths, mounted by the daemon beside /metrics (outside /api/ because
// the firmware package owns the agent): GET is read-only and open like
// /metrics, POST needs the bearer token (CheckBearer).
const (
	UpdateStatusPath = "/update"
	UpdateCheckPath  = "/update/check"
)

// CheckBearer reports whether r carries token as its bearer token
// (constant-time), for handlers mounted outside /api/.
func CheckBearer(r *http.Request, token string) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && tokenMatches(strings.TrimSpace(tok), token)
}

// UpdateStatus fetches GET /update into out (firmware.UpdateStatus).
func (c *Client) UpdateStatus(ctx context.Context, out any) error {
	return c.raw(ctx, http.MethodGet, UpdateStatusPath, out)
}

// UpdateCheck asks the agent to check for a release now.
func (c *Client) UpdateCheck(ctx context.Context) (queued bool, err error) {
	var r struct {
		Queued bool `json:"queued"`
	}
	err = c.raw(ctx, http.MethodPost, UpdateCheckPath, &r)
	return r.Queued, err
}

func (c *Client) raw(ctx context.Context, method, path string, out any) error {
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return fmt.Errorf("building %s request: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w (is starlingd running, and is the address right?)", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s: reading answer: %w", path, err)
	}
	if len(b) > maxResponse {
		return fmt.Errorf("%s: answer larger than %d bytes", path, maxResponse)
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %w: updates are not enabled on this speaker ([update] enabled = true)", path, ErrUnavailable)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: HTTP %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s: decoding answer: %w", path, err)
		}
	}
	return nil
}
