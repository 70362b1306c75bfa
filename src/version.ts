export const operatorVersion = '0.1.0';
