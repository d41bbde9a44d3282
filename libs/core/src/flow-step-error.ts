/** An event a flow's state machine does not accept at its current step: a bug or a forged request, never a user's mistake. */
export class FlowStepError extends Error {
  constructor(
    readonly step: string,
    readonly event: string,
    message = `event ${event} is not allowed at step ${step}`,
  ) {
    super(message);
  }
}
