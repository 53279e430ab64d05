/**
 * Typed domain errors. Business code throws these; ProblemDetailsFilter maps them to RFC 9457 problem+json
 * (`type` = https://errors.referral-gateway.dev/<code>). Messages must never contain PII or internal names.
 */
export interface FieldError {
  field: string | null;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    /** Extra response headers (e.g. retry-after). */
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? title);
    this.name = new.target.name;
  }
}

export class BadRequestError extends DomainError {
  constructor(detail?: string, errors?: FieldError[]) {
    super(400, 'bad-request', 'The request is not valid', detail, errors);
  }
}

export class ValidationFailedError extends DomainError {
  constructor(errors: FieldError[], detail = 'One or more fields are invalid') {
    super(400, 'validation-failed', 'The request body or query is not valid', detail, errors);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(detail = 'A valid credential is required') {
    super(401, 'unauthorized', 'Authentication required', detail);
  }
}

export class ForbiddenError extends DomainError {
  constructor(detail = 'This credential may not use this resource') {
    super(403, 'forbidden', 'Forbidden', detail);
  }
}

/** Also used for resources of another partner or user: they must be indistinguishable from missing ones. */
export class NotFoundError extends DomainError {
  constructor(resource = 'resource') {
    super(404, 'not-found', 'Not found', `No such ${resource}`);
  }
}

export class ConflictError extends DomainError {
  constructor(code: string, detail: string) {
    super(409, code, 'Conflict with the current state', detail);
  }
}

export class UnprocessableError extends DomainError {
  constructor(code: string, detail: string) {
    super(422, code, 'Unprocessable request', detail);
  }
}
