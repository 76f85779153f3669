package api

import (
	"strings"
	"testing"
	"time"
)

func TestTailTokenExpires(t *testing.T) {
	s := &Server{tailSecrets: tailSecrets(keyBytes([]string{"k"}))}
	now := time.Unix(1_800_000_000, 0)
	token := s.newTailToken(now)
	if _, err := s.tailInfo(token, now.Add(tailTokenTTL)); err != nil {
		t.Fatalf("a token at its expiry: %v", err)
	}
	_, err := s.tailInfo(token, now.Add(tailTokenTTL+time.Second))
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("a token past its expiry: %v", err)
	}
	info, err := s.tailInfo(token, now)
	if err != nil || info.Perms == nil || !info.Perms.CanSubscribe(">") || info.Perms.CanPublish("a") || info.Subject != "" {
		t.Fatalf("listener %+v, %v: want subscribe-only, anonymous", info, err)
	}
	// With no API key, a secret of the process signs: another server
	// (another process) does not take its tokens.
	lone := &Server{tailSecrets: tailSecrets(nil)}
	if _, err := lone.tailInfo(lone.newTailToken(now), now); err != nil {
		t.Fatalf("own token: %v", err)
	}
	other := &Server{tailSecrets: tailSecrets(nil)}
	if _, err := other.tailInfo(lone.newTailToken(now), now); err == nil {
		t.Fatal("another process's token was taken")
	}
}
