package ledger

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// KeywordKind says what a reply asks textback to do.
type KeywordKind int

const (
	// KeywordNone is an ordinary reply, for a person to read.
	KeywordNone KeywordKind = iota
	// KeywordOptOut asks textback to stop texting the number.
	KeywordOptOut
	// KeywordOptIn allows texts to the number again.
	KeywordOptIn
	// KeywordHelp asks for the line's help text.
	KeywordHelp
)

// String returns "none", "opt_out", "opt_in" or "help".
func (k KeywordKind) String() string {
	switch k {
	case KeywordNone:
		return "none"
	case KeywordOptOut:
		return "opt_out"
	case KeywordOptIn:
		return "opt_in"
	case KeywordHelp:
		return "help"
	}
	return "KeywordKind(" + strconv.Itoa(int(k)) + ")"
}

// KeywordMatch is what a reply means, as far as keywords go.
type KeywordMatch struct {
	Kind KeywordKind
	// Word is the normalised keyword or phrase that matched ("stop",
	// "opt out", "please stop texting me"): the whole message, lower-cased,
	// without punctuation, symbols and accents, words separated by single
	// spaces. Empty when Kind is KeywordNone.
	Word string
	// Probable: not a standard keyword but probably an opt-out ("don't text
	// me", "stop texting me please", "remove me from your list"): treated as
	// an opt-out and flagged for human review.
	Probable bool
	// OnlyIfOptedOut: the match is an opt-in only while the number is opted
	// out (YES, "yes please"); otherwise the message is an ordinary reply.
	// The caller (the inbox) decides with the number's state.
	OnlyIfOptedOut bool
}

// Limits on what can be a keyword. A message longer than the exact limits
// is never a keyword: it goes to a person. Only a probable opt-out may be
// longer, up to the probable limits, and only when the whole message is
// made of opt-out phrasings and small talk ("Hi, who is this? Please stop
// texting me. Thanks").
const (
	maxExactWords    = 8
	maxExactRunes    = 60
	maxProbableWords = 24
	maxProbableRunes = 160
)

// Keywords recognises opt-out, opt-in and help messages: the standard
// keywords and phrasings, plus a line's extra words. A Keywords is
// immutable after NewKeywords and safe for concurrent use.
//
// Match looks at the whole message after normalising it (see KeywordMatch.Word),
// never at a word inside a longer text: "stop by tomorrow at 3?" and
// "cancel my appointment" are ordinary replies. The message is cut into
// known units (keywords, phrasings such as "stop texting me" or "take me
// off your list", and small talk such as "please", "thanks", "who is this")
// and matches only when the units cover it entirely.
type Keywords struct {
	words    *trie     // single words and fixed phrases, with their classes
	patterns []pattern // phrasings built from slots, all probable opt-outs
}

// NewKeywords returns the standard keywords plus the extra words of a
// line. Extra words may be in any language and case and have several
// words; they match as exact keywords of their kind, alone or repeated,
// and extra opt-out words also with "please", "thanks" and the like.
// Extra opt-in words are conversational in their language as YES is in
// English ("OUI", "SI"), so they match with OnlyIfOptedOut set. The standard
// keywords cannot be removed.
//
// NewKeywords returns an error naming the word when an extra word is empty
// after normalising ("", "!!!", "🙂"), is longer than a keyword can be (8
// words, 60 characters), or already means something else (an opt-in word
// "STOP", or a word listed under two kinds).
func NewKeywords(extra KeywordConfig) (*Keywords, error) {
	k := standardKeywords()
	base := &Keywords{words: k.words.clone(), patterns: k.patterns}
	seen := map[string]KeywordKind{}
	for _, list := range []struct {
		name  string
		kind  KeywordKind
		class classes
		words []string
	}{
		{"opt-out", KeywordOptOut, cStop, extra.OptOut},
		{"opt-in", KeywordOptIn, cStartExtra, extra.OptIn},
		{"help", KeywordHelp, cHelp, extra.Help},
	} {
		for _, w := range list.words {
			text, n, ok := normalize(w, maxExactWords)
			switch {
			case n == 0 && ok:
				return nil, fmt.Errorf("%s keyword %q: empty after removing punctuation and symbols", list.name, w)
			case !ok || utf8.RuneCountInString(text) > maxExactRunes:
				return nil, fmt.Errorf("%s keyword %q: longer than a keyword can be (%d words, %d characters)", list.name, w, maxExactWords, maxExactRunes)
			}
			if kind, dup := seen[text]; dup && kind != list.kind {
				return nil, fmt.Errorf("%s keyword %q: also listed as a %s keyword", list.name, w, kindName(kind))
			}
			if m := base.Match(w); m.Kind != KeywordNone && m.Kind != list.kind {
				return nil, fmt.Errorf("%s keyword %q: already a standard %s keyword", list.name, w, kindName(m.Kind))
			}
			seen[text] = list.kind
			k.words.add(strings.Split(text, " "), list.class)
		}
	}
	return k, nil
}

// kindName names a kind in error messages.
func kindName(k KeywordKind) string {
	switch k {
	case KeywordOptOut:
		return "opt-out"
	case KeywordOptIn:
		return "opt-in"
	}
	return k.String()
}

// Match says whether body, a whole inbound message, is an opt-out, opt-in
// or help keyword. It never fails: anything it does not recognise is
// KeywordNone, for a person.
func (k *Keywords) Match(body string) KeywordMatch {
	text, n, ok := normalize(body, maxProbableWords)
	if !ok || n == 0 {
		return KeywordMatch{}
	}
	runes := utf8.RuneCountInString(text)
	if runes > maxProbableRunes {
		return KeywordMatch{}
	}
	var buf [maxProbableWords]string
	toks := buf[:0]
	for w := range strings.SplitSeq(text, " ") {
		toks = append(toks, w)
	}
	exact := n <= maxExactWords && runes <= maxExactRunes
	c := cover{k: k, toks: toks}
	for _, p := range passes {
		if p.exact && !exact {
			continue
		}
		if c.covers(p.allowed, p.required) {
			m := p.match
			m.Word = text
			return m
		}
	}
	return KeywordMatch{}
}

// classes is a set of unit classes: what a word or phrase can be.
type classes uint16

const (
	cPolite       classes = 1 << iota // please, thanks, ok, hi: around opt-out keywords, YES and START
	cNo                               // no, nope: around opt-out keywords
	cYes                              // yes, y: opt-in while opted out; harmless around an opt-out
	cContext                          // again, anymore, wrong number, who is this, i said: around probable opt-outs
	cRequest                          // can you, i want to: around unmistakable opt-outs only ("can you stop it?" is about the leak)
	cStop                             // standard opt-out keywords and exact phrasings (stop, cancel, stop it) and the line's extra opt-out words
	cStopAny                          // opt-out words and phrasings that are nothing else (unsubscribe, opt out, opt me out, remove me)
	cStopProbable                     // probable opt-out phrasings (stop texting me, don't text me, take me off your list)
	cStart                            // start, unstop
	cStartExtra                       // the line's extra opt-in words
	cHelp                             // help, info and the line's extra help words
	numClasses    = iota
)

// passes are tried in order; the first whose allowed units cover the whole
// message, with at least one required unit, decides.
var passes = []struct {
	allowed, required classes
	exact             bool // only for messages within the exact limits
	match             KeywordMatch
}{
	{allowed: cHelp, required: cHelp, exact: true,
		match: KeywordMatch{Kind: KeywordHelp}},
	{allowed: cStart, required: cStart, exact: true,
		match: KeywordMatch{Kind: KeywordOptIn}},
	{allowed: cPolite | cNo | cYes | cStop | cStopAny, required: cStop | cStopAny, exact: true,
		match: KeywordMatch{Kind: KeywordOptOut}},
	{allowed: cPolite | cYes | cStart | cStartExtra, required: cYes | cStart | cStartExtra, exact: true,
		match: KeywordMatch{Kind: KeywordOptIn, OnlyIfOptedOut: true}},
	// Too long to be exact, or with context ("Wrong number. STOP").
	{allowed: cPolite | cNo | cYes | cContext | cStop | cStopAny | cStopProbable | cStart | cHelp, required: cStop | cStopAny | cStopProbable,
		match: KeywordMatch{Kind: KeywordOptOut, Probable: true}},
	// Requests ("could you please remove me", "I want to opt out").
	{allowed: cPolite | cNo | cYes | cContext | cRequest | cStopAny | cStopProbable | cStart | cHelp, required: cStopAny | cStopProbable,
		match: KeywordMatch{Kind: KeywordOptOut, Probable: true}},
}

// cover finds whether a sequence of units covers a message's words.
type cover struct {
	k    *Keywords
	toks []string
	done uint32                               // positions whose ends are computed
	ends [maxProbableWords][numClasses]uint32 // per start position and class: bit j set when a unit spans toks[i:j]
}

// covers reports whether toks is a sequence of units of the allowed
// classes, at least one of them of a required class.
func (c *cover) covers(allowed, required classes) bool {
	n := len(c.toks)
	s0, s1 := uint32(1), uint32(0) // positions reached without, with a required unit
	for i := range n {
		bit := uint32(1) << i
		if (s0|s1)&bit == 0 {
			continue
		}
		e := c.endsAt(i)
		var any, req uint32
		for cl := range numClasses {
			if allowed&(1<<cl) != 0 {
				any |= e[cl]
				if required&(1<<cl) != 0 {
					req |= e[cl]
				}
			}
		}
		if s0&bit != 0 {
			s0 |= any &^ req
			s1 |= req
		}
		if s1&bit != 0 {
			s1 |= any
		}
	}
	return s1&(1<<n) != 0
}

// endsAt computes, once, where the units starting at toks[i] end.
func (c *cover) endsAt(i int) *[numClasses]uint32 {
	e := &c.ends[i]
	if c.done&(1<<i) != 0 {
		return e
	}
	c.done |= 1 << i
	t := c.k.words
	for j := i; j < len(c.toks); j++ {
		if t = t.next[c.toks[j]]; t == nil {
			break
		}
		for cs := t.classes; cs != 0; cs &= cs - 1 {
			e[bits.TrailingZeros16(uint16(cs))] |= 1 << (j + 1)
		}
	}
	for _, p := range c.k.patterns {
		e[classIndex(cStopProbable)] |= p.ends(c.toks, i)
	}
	return e
}

func classIndex(c classes) int { return bits.TrailingZeros16(uint16(c)) }

// trie is a set of phrases, word by word.
type trie struct {
	next    map[string]*trie
	classes classes // non-zero where a phrase ends
}

func (t *trie) add(words []string, c classes) {
	for _, w := range words {
		n := t.next[w]
		if n == nil {
			if t.next == nil {
				t.next = map[string]*trie{}
			}
			n = &trie{}
			t.next[w] = n
		}
		t = n
	}
	t.classes |= c
}

func (t *trie) clone() *trie {
	c := &trie{classes: t.classes}
	if t.next != nil {
		c.next = make(map[string]*trie, len(t.next))
		for w, n := range t.next {
			c.next[w] = n.clone()
		}
	}
	return c
}

// ends returns the positions where phrases of t starting at toks[i] end,
// as a bit set.
func (t *trie) ends(toks []string, i int) uint32 {
	var m uint32
	for j := i; j < len(toks); j++ {
		if t = t.next[toks[j]]; t == nil {
			break
		}
		if t.classes != 0 {
			m |= 1 << (j + 1)
		}
	}
	return m
}

// pattern is a phrasing made of slots in order, each a set of phrases.
type pattern []slot

// slot is a set of phrases, or a shorter pattern.
type slot struct {
	set      *trie
	sub      pattern // when set is nil
	optional bool
}

// ends returns the positions where the pattern starting at toks[i] can
// end, as a bit set.
func (p pattern) ends(toks []string, i int) uint32 {
	cur := uint32(1) << i
	for _, s := range p {
		var next uint32
		if s.optional {
			next = cur
		}
		for c := cur; c != 0; c &= c - 1 {
			if j := bits.TrailingZeros32(c); s.set != nil {
				next |= s.set.ends(toks, j)
			} else {
				next |= s.sub.ends(toks, j)
			}
		}
		if next == 0 {
			return 0
		}
		cur = next
	}
	return cur &^ (1 << i)
}

// normalize lower-cases body, folds compatibility forms (full-width and
// styled letters) and accents, drops apostrophes ("don't" is "dont") and
// invisible marks, and turns every other rune that is not a letter or a
// digit into a word break. It returns the words separated by single
// spaces and their number; ok is false when body has more than max words.
func normalize(body string, max int) (text string, words int, ok bool) {
	if !isASCII(body) {
		body = norm.NFKD.String(body)
	}
	var b strings.Builder
	b.Grow(len(body))
	inWord := false
	for _, r := range body {
		switch {
		case isJoiner(r):
		case isWordRune(r):
			if !inWord {
				if words == max {
					return "", 0, false
				}
				if words > 0 {
					b.WriteByte(' ')
				}
				words++
				inWord = true
			}
			if r < utf8.RuneSelf {
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				b.WriteByte(byte(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
		default:
			inWord = false
		}
	}
	return b.String(), words, true
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isJoiner reports whether r is dropped without breaking a word:
// apostrophes, accents left by the decomposition, format characters
// (zero-width space, soft hyphen, variation selectors).
func isJoiner(r rune) bool {
	switch r {
	case '\'', '`', '\u2018', '\u2019', '\u02bc':
		return true
	}
	return r >= utf8.RuneSelf && (unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r))
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mc, r)
}

// standardKeywords builds the standard vocabulary. Phrases are written
// normalised; one entry may list several, as "remove|delete".
func standardKeywords() *Keywords {
	k := &Keywords{words: &trie{}}
	for _, v := range []struct {
		class   classes
		phrases []string
	}{
		{cPolite, []string{
			"please", "pls", "plz", "plse", "pleas", "plez", "kindly",
			"thanks", "thank you", "thank u", "thankyou", "thanks so much", "thank you so much", "thx", "ty", "tks",
			"ok", "okay", "k", "kk", "okey",
			"hi", "hello", "hey", "sorry", "sir", "maam",
			"just", "now", "right now", "asap", "immediately", "already", "seriously",
			"por favor", "gracias", "merci", "svp", "s il vous plait", "bitte", "danke",
		}},
		{cNo, []string{"no", "nope", "nah"}},
		{cYes, []string{"yes", "y"}},
		// Standard keywords (CTIA, Twilio, Telnyx, AWS) and exact
		// phrasings. Some are ordinary words too ("cancel", "end", "stop it"):
		// they count alone or with small talk only.
		{cStop, []string{
			"stop", "cancel", "end", "quit", "remove", "arret", "td",
			"stop it", "stop this",
		}},
		{cStopAny, []string{
			"stopall", "stop all", "unsubscribe", "unsub", "revoke", "optout", "opt out",
			"opt me out", "unsubscribe me", "unsub me", "remove me",
		}},
		{cStart, []string{"start", "unstop"}},
		{cHelp, []string{"help", "info"}},
		{cContext, []string{
			"again", "anymore", "any more", "ever", "ever again", "forever", "for good", "at all", "from now on",
			"i said", "i already said", "i told you", "i said to", "i told you to",
			"wrong number", "you have the wrong number", "you got the wrong number", "this is the wrong number", "wrong person",
			"who is this", "whos this", "who dis", "who are you", "who is this please",
			"i didnt call you", "i did not call you", "i never called you", "i never called",
			"not interested", "im not interested", "i am not interested",
			"spam", "this is spam",
		}},
		{cRequest, []string{
			"can you", "could you", "would you", "will you", "can u", "could u", "would u", "will u",
			"i want to", "i wanna", "i would like to", "id like to", "i wish to",
			"i want you to", "i need you to", "i would like you to", "id like you to", "i asked you to",
		}},
		{cStopProbable, []string{
			"leave me alone", "go away", "fuck off", "f off", "piss off",
			"i want out", "count me out",
			"i didnt sign up for this", "i did not sign up for this", "i never signed up for this",
			"i didnt sign up", "i did not sign up", "i never signed up",
			"i didnt ask for this", "i never asked for this",
			"unsuscribe", "unsubcribe", "unsubscibe", "unsubsribe", "unsubscrive", "unscubscribe", "unsubscribed",
		}},
	} {
		for _, p := range v.phrases {
			k.words.add(strings.Fields(p), v.class)
		}
	}

	// set is a slot of phrases, seq a slot of slots in order, opt makes a
	// slot optional.
	set := func(phrases ...string) slot {
		t := &trie{}
		for _, p := range phrases {
			t.add(strings.Fields(p), cStopProbable)
		}
		return slot{set: t}
	}
	seq := func(slots ...slot) slot { return slot{sub: slots} }
	opt := func(s slot) slot { s.optional = true; return s }
	var (
		stopVerb = set("stop", "quit", "cease")
		swear    = set("fucking", "freaking", "frickin", "freakin", "effing", "bloody", "damn", "f ing", "fing")
		// Ways of reaching someone, after "stop": "stop texting".
		contacting = set("texting", "txting", "texing", "textin", "text", "txt",
			"messaging", "msging", "message", "msg", "contacting", "contact",
			"sending", "send", "calling", "bothering", "spamming", "spaming",
			"harassing", "harrassing", "emailing")
		// After "don't": "don't text me". Not "call": "don't call, text me"
		// wants texts.
		dontContact = set("text", "txt", "message", "msg", "contact", "sms", "email", "bother", "spam", "text message")
		dont        = set("dont", "don t", "do not", "never", "dont ever", "do not ever", "never ever")
		// Who is reached.
		whom = set("me", "us", "this number", "my number", "this phone", "my phone",
			"this phone number", "my phone number", "my cell", "this cell", "my cell phone")
		det = set("the", "these", "this", "those", "all", "all these", "all the", "all of these",
			"all of the", "your", "ur", "any", "any more", "anymore", "more", "all your", "all of your")
		// What is sent.
		texts = set("texts", "text", "text messages", "messages", "msgs", "sms", "sms messages",
			"stuff", "spam", "notifications", "alerts", "reminders", "robotexts")
		removeVerb = set("remove", "delete", "drop", "erase", "unsubscribe", "unsub", "unlist")
		takeVerb   = set("take", "get")
		// Whose entry is removed.
		entry = set("me", "us", "my number", "this number", "my phone number", "this phone number",
			"my phone", "my cell", "my info", "my information", "my details", "my contact", "my contact info")
		from = set("from", "off", "of", "off of", "out of")
		off  = set("off", "off of", "out of")
		list = set("list", "lists", "texting list", "text list", "text messaging list", "mailing list",
			"messaging list", "message list", "sms list", "contact list", "call list", "calling list",
			"contacts", "database", "system", "texts", "text messages", "messages", "msgs",
			"notifications", "alerts", "this", "these", "it", "them", "everything", "all")
	)
	var (
		fromList  = seq(from, opt(det), list) // from your list, off this
		someTexts = seq(opt(det), texts)      // texts, these texts
		someList  = seq(opt(det), list)       // your list, this
		dontWant  = set("i dont want", "i do not want", "i dont wanna", "i no longer want",
			"i dont need", "i do not need", "i do not wish", "i dont wish")
	)
	k.patterns = []pattern{
		// stop texting (me), stop sending me these texts, stop fucking calling me
		{stopVerb, opt(swear), contacting, opt(whom), opt(someTexts)},
		// stop the texts, stop all messages
		{stopVerb, opt(swear), someTexts},
		// don't text me, do not contact this number, never text me
		{dont, opt(swear), dontContact, opt(whom), opt(someTexts)},
		// don't send me texts, do not send any more messages
		{dont, opt(swear), set("send"), opt(whom), someTexts},
		// remove my number, remove me from your list, unsubscribe me from this
		{removeVerb, entry, opt(fromList)},
		// take me off, take me off your list, get my number off this list
		{takeVerb, entry, off, opt(someList)},
		// opt me out of this, opt my number out
		{set("opt"), entry, set("out"), opt(fromList)},
		// unsubscribe from this list, opt out of texts
		{set("unsubscribe", "unsub", "opt out", "optout"), fromList},
		// (I want to) be removed from your list
		{set("be removed", "be taken off", "be unsubscribed", "be opted out", "be deleted", "be texted", "be contacted", "be messaged"), opt(fromList)},
		// no more texts, no messages
		{set("no more", "nomore", "no", "no further"), opt(set("of", "of these", "of your", "of the")), texts},
		// I don't want these texts, I do not want to receive any more messages
		{dontWant, opt(set("to receive", "to get")), someTexts},
		// I don't want to be texted
		{dontWant, set("to be texted", "to be contacted", "to be messaged")},
		// how do I unsubscribe
		{set("how do i", "how can i", "how to", "how do you"), set("unsubscribe", "unsub", "opt out", "optout")},
	}
	return k
}
