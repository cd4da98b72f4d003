package control

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. A Player wraps the first four so the API can answer with
// the right status; the Client returns errors that match them with errors.Is.
var (
	// ErrNotFound: no such track, or a query matched nothing (404).
	ErrNotFound = errors.New("control: not found")
	// ErrInvalid: the request is malformed or out of range (400).
	ErrInvalid = errors.New("control: invalid request")
	// ErrConflict: the request does not fit the current state, e.g. seek
	// while stopped or next with an empty queue (409).
	ErrConflict = errors.New("control: not possible in the current state")
	// ErrUnavailable: the player cannot serve now, e.g. not logged in to the
	// service or shutting down (503).
	ErrUnavailable = errors.New("control: temporarily unavailable")
	// ErrUnauthorized: the bearer token is missing or wrong (401).
	ErrUnauthorized = errors.New("control: unauthorized (check the token: --token, STARLING_TOKEN or --token-file)")
	// ErrBadToken: a token file holds something that is not a token.
	ErrBadToken = errors.New("control: malformed token (want 43 base64url characters encoding 32 bytes)")
	// ErrClosed: the server was closed.
	ErrClosed = errors.New("control: server closed")
)

// statusFor maps an error from a Player to an HTTP status code.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}

// APIError is a non-2xx answer from the API as seen by the Client.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the "error" field of the JSON body (or the status text).
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("starlingd answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Unwrap maps the status code back to a sentinel, so errors.Is works on the
// client side as on the server side.
func (e *APIError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		return ErrInvalid
	case http.StatusConflict:
		return ErrConflict
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	case http.StatusUnauthorized:
		return ErrUnauthorized
	}
	return nil
}
