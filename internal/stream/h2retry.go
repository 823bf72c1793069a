package stream

// Retrying on an answer's status over HTTP/2: the forwarding loop asks
// RetryAnswer before a response head goes downstream, as it does of an
// HTTP/1 try; the answer is dropped only while the request is held whole,
// so that it can go again.

// heldWhole reports whether the pipe holds a request body whole: END_STREAM
// came and nothing was let go (a body past maxHeld, or one a try without
// hold sent, is not).
func (p *h2Pipe) heldWhole() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hold && p.end && !p.dropped
}

// retryAnswer drops an answer the retry policy retries, before its head
// goes downstream, while the request is held whole: the upstream stream is
// cancelled (its body is not read) and the try ends Retriable.
func (t *H2ClientStream) retryAnswer() bool {
	status := t.head.StatusCode()
	if !t.peer.requestBody().heldWhole() || !t.try.RetryAnswer(status) {
		return false
	}
	t.cancel(Result{Outcome: Retriable, Status: status, Replayable: true})
	return true
}
