/**
 * Thrown by the idempotency interceptor to answer with a stored response. Nest would overwrite any status an
 * interceptor sets with the route's own, so the replay travels to ProblemDetailsFilter, which sends it verbatim.
 * It is not an Error: nothing may log it as a failure.
 */
export class IdempotentReplay {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly contentType: string,
  ) {}
}
