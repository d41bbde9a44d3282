import 'reflect-metadata';
import { serve } from '#libs/platform';
import { DEMO_PORTAL } from './served.js';

await serve([DEMO_PORTAL]);
