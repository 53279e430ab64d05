import { ValidationPipe } from '@nestjs/common';

export const createValidationPipe = () => new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
