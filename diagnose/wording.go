package diagnose

// Words says what a status means the way a mail admin would, with the
// RFC 8601 result in parentheses: the one wording the Slack replies and the
// terminal (bot diagnose) share.
func (s Status) Words() string {
	switch s {
	case StatusPass:
		return "passes FCrDNS"
	case StatusFail:
		return "has a PTR that does not point back (fail)"
	case StatusPermerror:
		return "has no PTR record (permerror)"
	default:
		return "can't tell yet: DNS did not answer (temperror)"
	}
}
