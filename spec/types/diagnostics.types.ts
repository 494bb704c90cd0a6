// Compile-only checks of the diagnostics types: `npm test` builds this file, and each line marked
// as an expected error must really be a type error, or the build fails. Never executed.

import { subscribe } from 'node:diagnostics_channel'
import { CHANNELS, type ChannelName, type DiagnosticPayloads, type MessageDiagnostic } from '../../lib/index.js'

// Every channel name has a payload type, and nothing else does.
const names: ChannelName[] = Object.values(CHANNELS)
const command: DiagnosticPayloads[typeof CHANNELS.command] = {
  session: null as unknown as DiagnosticPayloads['smtpwire:command']['session'],
  verb: 'MAIL',
  code: 250,
  duration: 0.2,
}
// @ts-expect-error a name that is not a channel
const unknown: DiagnosticPayloads['smtpwire:nothing'] = command
// @ts-expect-error CHANNELS is read-only
CHANNELS.command = 'mine'

subscribe(CHANNELS.message, (message) => {
  const { result, code, size } = message as MessageDiagnostic
  const outcome: 'accepted' | 'refused' | 'failed' = result
  const answered: number | null = code
  // @ts-expect-error the code is null when the connection ended first
  const always: number = code
  void [outcome, answered, always, size]
})

void [names, unknown]
