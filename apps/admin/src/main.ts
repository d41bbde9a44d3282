import 'reflect-metadata';
import { serve } from '#libs/platform';
import { ADMIN } from './served.js';

await serve([ADMIN]);
