/** The documented output fields every action that sends planned commands returns (`outcomes[]`). */
export const OUTCOME_FIELDS = {
  'outcomes[]': 'each command sent, in plan order (empty in a dry run)',
  'outcomes[].node': 'host:port it was sent to',
  'outcomes[].argv': 'the command as sent (secrets as `${secret:<name>}` placeholders)',
  'outcomes[].note': 'why this command, one line',
  'outcomes[].ok': 'true when Redis answered without an error',
  'outcomes[].reply': 'the reply as text (when ok)',
  'outcomes[].error': 'the error reply or connection error (when not ok)',
  'outcomes[].step': 'index of the remediation step that planned it (set by the engine)',
  'outcomes[].origin': 'host:port the step was planned from (set by the engine)',
} as const;
