// Compile-only checks of SmtpServer's typed events and the types its options name: `npm test`
// builds this file, and each line marked as an expected error must really be a type error.

import { ProcessingGate, SmtpProtocol, SmtpServer, type SessionFacts, type SmtpServerEvents } from '../../lib/index.js'

const server = new SmtpServer({ domain: 'mx.test' }, () => undefined)

server.on('error', (error) => {
  const message: string = error.message
  void message
})
server.on('connectionError', (error, facts) => {
  const name: string = error.name
  const address: string | undefined = facts.remoteAddress
  void [name, address]
})
const facts: SmtpServerEvents['connectionError'][1] = { remoteAddress: '192.0.2.1', remotePort: 1 } satisfies SessionFacts
void facts

// @ts-expect-error SmtpServer has no such event
server.on('message', () => undefined)
// @ts-expect-error connectionError's first argument is an Error, not a string
server.on('connectionError', (error: string) => void error)

// The gate a public option names is exported, and sessions run by hand can share one.
const gate = new ProcessingGate(4)
const active: number = gate.active
void active
void new SmtpProtocol({ gate })
