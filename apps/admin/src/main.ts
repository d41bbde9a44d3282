import 'reflect-metadata';
import { serve } from '../../../libs/platform/src/index.js';
import { ADMIN } from './served.js';

await serve([ADMIN]);
