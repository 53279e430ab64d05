import { ValidationError, ValidationPipe } from '@nestjs/common';

import { FieldError, ValidationFailedError } from '../../common/errors';

/** class-validator's nested errors as `{ field: dotted path, message }`, one entry per failed constraint. */
export function toFieldErrors(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    for (const [constraint, message] of Object.entries(error.constraints ?? {})) {
      // class-validator's text for an unknown member ("property x should not exist") names the field twice; say it once.
      out.push({ field, message: constraint === 'whitelistValidation' ? 'is not an accepted field' : message });
    }
    if (error.children?.length) out.push(...toFieldErrors(error.children, field));
  }
  return out;
}

/**
 * Every body, query and param DTO: unknown members are rejected (no mass assignment), values are transformed into
 * the DTO class, and failures become a 400 problem with `errors: [{ field, message }]`.
 */
export const createValidationPipe = () =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    // The submitted value is never echoed back in a message: it may be personal data.
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ValidationFailedError(toFieldErrors(errors)),
  });
