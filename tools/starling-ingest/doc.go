// Package main is starling-ingest. It may import tools/catalog, kong,
// progressbar and x/term; every decision about tracks lives in catalog.
package main
