import 'reflect-metadata';
import { serve } from '#libs/platform';
import { IDP } from './served.js';

await serve([IDP]);
